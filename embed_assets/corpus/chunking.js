// The chunking rule of embed_assets/corpus/_splitter.c and corpus/chunks.py, for BigQuery.
//
// The body of a JavaScript UDF `(text STRING, title STRING, max_tokens FLOAT64,
// overlap_tokens FLOAT64) RETURNS ARRAY<STRUCT<chunk_start FLOAT64, chunk_end FLOAT64>>`
// (warehouse/chunks.py). It gives the same chunks as `corpus.chunks.cut_documents` with the
// Vertex models' token estimate (models/tokens.py), so both paths make the same ids, offsets
// and hashes; the parity tests hold them together. Offsets count code points, as Python and
// BigQuery's SUBSTR do; JavaScript strings count UTF-16 units, so they are converted at the end.

// white space exactly as Python's str.isspace() and re's \s see it
var SPACE = "[ \\t\\n\\v\\f\\r\\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
var IS_SPACE = new RegExp("^" + SPACE + "$");
// paragraph breaks, sentence ends, spaces: the places a cut may fall, coarsest first
var BREAKS = [
  new RegExp("\\n[ \\t]*\\n" + SPACE + "*", "g"),
  new RegExp("(?<=[.!?])" + SPACE + "+", "g"),
  new RegExp(SPACE + "+", "g"),
];
var ASCII_WORD = /[A-Za-z]+/g;
var NOT_COUNTED_APART = new RegExp("[A-Za-z]|" + SPACE, "g");
var LETTERS_PER_TOKEN = 3;
var MAX_DEPTH = 64;

function estimateTokens(s) {
  var words = 0;
  var match;
  ASCII_WORD.lastIndex = 0;
  while ((match = ASCII_WORD.exec(s)) !== null) {
    words += Math.ceil(match[0].length / LETTERS_PER_TOKEN);
  }
  var rest = 0;
  for (var c of s.replace(NOT_COUNTED_APART, "")) rest += 1; // code points, not UTF-16 units
  return words + rest;
}

function utf8(s) {
  var out = [];
  for (var i = 0; i < s.length; i++) {
    var c = s.codePointAt(i);
    if (c > 0xffff) i++;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

// BLAKE2b with an 8-byte digest (Python's hashlib.blake2b(digest_size=8)), on 32-bit halves
var IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);
var SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

function add64(v, a, b0, b1) {
  var low = v[a] + b0;
  v[a + 1] = v[a + 1] + b1 + (low >= 0x100000000 ? 1 : 0);
  v[a] = low;
}

function mix(v, m, a, b, c, d, x, y) {
  add64(v, a, v[b], v[b + 1]);
  add64(v, a, m[x], m[x + 1]);
  var low = v[d] ^ v[a], high = v[d + 1] ^ v[a + 1];
  v[d] = high;
  v[d + 1] = low; // rotate right 32
  add64(v, c, v[d], v[d + 1]);
  low = v[b] ^ v[c];
  high = v[b + 1] ^ v[c + 1];
  v[b] = (low >>> 24) ^ (high << 8);
  v[b + 1] = (high >>> 24) ^ (low << 8);
  add64(v, a, v[b], v[b + 1]);
  add64(v, a, m[y], m[y + 1]);
  low = v[d] ^ v[a];
  high = v[d + 1] ^ v[a + 1];
  v[d] = (low >>> 16) ^ (high << 16);
  v[d + 1] = (high >>> 16) ^ (low << 16);
  add64(v, c, v[d], v[d + 1]);
  low = v[b] ^ v[c];
  high = v[b + 1] ^ v[c + 1];
  v[b] = (high >>> 31) ^ (low << 1); // rotate right 63
  v[b + 1] = (low >>> 31) ^ (high << 1);
}

function compress(h, bytes, offset, counted, last) {
  var v = new Uint32Array(32), m = new Uint32Array(32);
  for (var i = 0; i < 16; i++) {
    v[i] = h[i];
    v[i + 16] = IV[i];
  }
  v[24] ^= counted;
  if (last) {
    v[28] = ~v[28];
    v[29] = ~v[29];
  }
  for (i = 0; i < 32; i++) {
    var at = offset + 4 * i;
    m[i] = (bytes[at] || 0) | ((bytes[at + 1] || 0) << 8) | ((bytes[at + 2] || 0) << 16) | ((bytes[at + 3] || 0) << 24);
  }
  for (var round = 0; round < 12; round++) {
    var s = SIGMA[round % 10];
    mix(v, m, 0, 8, 16, 24, s[0] * 2, s[1] * 2);
    mix(v, m, 2, 10, 18, 26, s[2] * 2, s[3] * 2);
    mix(v, m, 4, 12, 20, 28, s[4] * 2, s[5] * 2);
    mix(v, m, 6, 14, 22, 30, s[6] * 2, s[7] * 2);
    mix(v, m, 0, 10, 20, 30, s[8] * 2, s[9] * 2);
    mix(v, m, 2, 12, 22, 24, s[10] * 2, s[11] * 2);
    mix(v, m, 4, 14, 16, 26, s[12] * 2, s[13] * 2);
    mix(v, m, 6, 8, 18, 28, s[14] * 2, s[15] * 2);
  }
  for (i = 0; i < 16; i++) h[i] ^= v[i] ^ v[i + 16];
}

// the digest's first 53 bits (big-endian) over 2**53: a draw in [0, 1), exact in both languages
function draw(s) {
  var bytes = utf8(s);
  if (bytes.length > 128) { // a long unit: its ends and its length, one block of the hash
    var length = bytes.length;
    bytes = bytes.slice(0, 60).concat(bytes.slice(length - 60));
    for (var k = 7; k >= 0; k--) bytes.push(k >= 4 ? 0 : (length >>> (8 * k)) & 255);
  }
  var h = new Uint32Array(IV);
  h[0] ^= 0x01010008; // no key, 8-byte digest
  var offset = 0;
  while (bytes.length - offset > 128) {
    compress(h, bytes, offset, offset + 128, false);
    offset += 128;
  }
  compress(h, bytes, offset, bytes.length, true);
  var b = [];
  for (var i = 0; i < 8; i++) b.push((h[i >> 2] >>> (8 * (i & 3))) & 255);
  var high = ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3];
  var low = ((b[4] << 24) >>> 0) + (b[5] << 16) + (b[6] << 8) + b[7];
  return (high * 2097152 + Math.floor(low / 2048)) / 9007199254740992;
}

function Splitter(text, maxTokens) {
  this.text = text;
  this.maxTokens = maxTokens;
  this.counted = new Map();
  this.draws = new Map();
}

Splitter.prototype.count = function (start, end) {
  var key = start + ":" + end;
  if (!this.counted.has(key)) this.counted.set(key, estimateTokens(this.text.slice(start, end)));
  return this.counted.get(key);
};

Splitter.prototype.fits = function (span) {
  return this.count(span[0], span[1]) <= this.maxTokens;
};

Splitter.prototype.split = function (span, level) {
  if (this.fits(span)) return [span];
  if (level === BREAKS.length) return this.splitCharacters(span);
  var units = this.units(span, level);
  if (units.length === 1) return this.split(units[0], level + 1);
  return this.group(units, level, this.maxTokens / 2, 0);
};

Splitter.prototype.units = function (span, level) {
  var found = [];
  var start = span[0];
  var pattern = BREAKS[level];
  pattern.lastIndex = span[0];
  var match;
  while ((match = pattern.exec(this.text)) !== null && match.index < span[1]) {
    var unit = trimmed(this.text, start, match.index);
    if (unit !== null) found.push(unit);
    start = match.index + match[0].length;
  }
  var last = trimmed(this.text, start, span[1]);
  if (last !== null) found.push(last);
  return found;
};

Splitter.prototype.group = function (units, level, target, depth) {
  var whole = [units[0][0], units[units.length - 1][1]];
  if (this.fits(whole)) return [whole];
  if (units.length === 1) return this.split(whole, level + 1);
  var groups = [[]];
  for (var i = 0; i < units.length; i++) {
    groups[groups.length - 1].push(units[i]);
    if (i < units.length - 1 && (depth >= MAX_DEPTH || this.cutAfter(units[i], target))) {
      groups.push([]);
    }
  }
  if (groups.length === 1) return this.group(units, level, target / 2, depth + 1);
  var chunks = [];
  for (i = 0; i < groups.length; i++) {
    chunks = chunks.concat(this.group(groups[i], level, target / 2, depth + 1));
  }
  return chunks;
};

Splitter.prototype.cutAfter = function (unit, target) {
  var key = unit[0] + ":" + unit[1];
  if (!this.draws.has(key)) this.draws.set(key, draw(this.text.slice(unit[0], unit[1])));
  var chance = Math.min(1, Math.max(1, this.count(unit[0], unit[1])) / target);
  return this.draws.get(key) < chance; // the same draw at every depth
};

Splitter.prototype.splitCharacters = function (span) {
  var places = []; // where each code point starts, and the span's end
  for (var i = span[0]; i < span[1]; i++) {
    places.push(i);
    var c = this.text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < span[1]) {
      var next = this.text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next < 0xe000) i++;
    }
  }
  places.push(span[1]);
  var pieces = [];
  var from = 0;
  while (from < places.length - 1) {
    var low = from + 1, high = places.length - 1;
    while (low < high) {
      var middle = Math.floor((low + high + 1) / 2);
      if (this.fits([places[from], places[middle]])) low = middle;
      else high = middle - 1;
    }
    pieces.push([places[from], places[low]]);
    from = low;
  }
  return pieces;
};

function trimmed(text, start, end) {
  while (start < end && IS_SPACE.test(text[start])) start++;
  while (end > start && IS_SPACE.test(text[end - 1])) end--;
  return start < end ? [start, end] : null;
}

function overlapped(text, previous, span, overlapTokens) {
  var start = span[0];
  for (;;) {
    if (start - 2 < previous[0]) return [start, span[1]];
    var space = text.lastIndexOf(" ", start - 2);
    if (space < previous[0]) return [start, span[1]];
    if (estimateTokens(text.slice(space + 1, span[0])) > overlapTokens) return [start, span[1]];
    start = space + 1;
  }
}

function codePointOffsets(text) {
  if (!/[\ud800-\udfff]/.test(text)) return null;
  var offsets = new Array(text.length + 1);
  var points = 0;
  for (var i = 0; i < text.length; i++) {
    offsets[i] = points;
    var c = text.charCodeAt(i);
    var pair = c >= 0xd800 && c < 0xdc00 && i + 1 < text.length;
    if (pair && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) < 0xe000) {
      offsets[i + 1] = points;
      i++;
    }
    points++;
  }
  offsets[text.length] = points;
  return offsets;
}

function documentSpans(text, title, maxTokens, overlapTokens) {
  var titleTokens = title ? estimateTokens(title) + 1 : 0;
  var room = maxTokens - titleTokens - overlapTokens;
  if (room < 4) {
    throw new Error(
      "a title of " + estimateTokens(title || "") + " tokens leaves no room in chunks of " +
      maxTokens + " tokens; raise chunking max_tokens or shorten the titles"
    );
  }
  var whole = trimmed(text, 0, text.length);
  if (whole === null) return [];
  var spans = new Splitter(text, room).split(whole, 0);
  if (overlapTokens > 0) {
    for (var i = spans.length - 1; i > 0; i--) {
      spans[i] = overlapped(text, spans[i - 1], spans[i], overlapTokens);
    }
  }
  var offsets = codePointOffsets(text);
  return spans.map(function (span) {
    return {
      chunk_start: offsets ? offsets[span[0]] : span[0],
      chunk_end: offsets ? offsets[span[1]] : span[1],
    };
  });
}

if (text === null) return null;
return documentSpans(text, title, max_tokens, overlap_tokens);
