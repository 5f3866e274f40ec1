/* The chunking rule of `embed_assets.corpus.chunking`, compiled: the same cuts, ~100x faster.
 *
 * `spans(texts, rooms, counter)` cuts every text into chunks of at most its room in tokens.
 * With `counter=None` tokens are the Vertex estimate of `models.tokens` (counted here, without
 * the GIL, so threads chunk on every core); otherwise `counter(str) -> int` is called (a
 * model's own tokenizer). `chunking.js` is the same rule for BigQuery; tests hold the three
 * (this, the Python reference in tests, the JavaScript) to the same cuts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS 3     /* paragraph breaks, sentence ends, spaces */
#define MAX_DEPTH 64 /* target halvings before a group is cut at every unit */
#define LETTERS_PER_TOKEN 3
#define DRAWN_BYTES 128 /* a unit's draw hashes all of a text up to this many bytes, */
#define DRAWN_END 60    /* and of a longer one its first and last 60 and its length */

/* ---- BLAKE2b with an 8-byte digest (RFC 7693), as hashlib.blake2b(digest_size=8) ---- */

typedef struct {
    uint64_t h[8], t;
    uint8_t b[128];
    size_t c;
} Blake2b;

static const uint64_t IV[8] = {
    0x6A09E667F3BCC908ULL, 0xBB67AE8584CAA73BULL, 0x3C6EF372FE94F82BULL, 0xA54FF53A5F1D36F1ULL,
    0x510E527FADE682D1ULL, 0x9B05688C2B3E6C1FULL, 0x1F83D9ABFB41BD6BULL, 0x5BE0CD19137E2179ULL};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

#define ROTR64(x, y) (((x) >> (y)) ^ ((x) << (64 - (y))))
#define MIX(a, b, c, d, x, y)             \
    do {                                  \
        v[a] = v[a] + v[b] + (x);         \
        v[d] = ROTR64(v[d] ^ v[a], 32);   \
        v[c] = v[c] + v[d];               \
        v[b] = ROTR64(v[b] ^ v[c], 24);   \
        v[a] = v[a] + v[b] + (y);         \
        v[d] = ROTR64(v[d] ^ v[a], 16);   \
        v[c] = v[c] + v[d];               \
        v[b] = ROTR64(v[b] ^ v[c], 63);   \
    } while (0)

static void blake2b_compress(Blake2b *ctx, int last) {
    uint64_t v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = ctx->h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= ctx->t; /* messages here are far below 2**64 bytes: the high word stays 0 */
    if (last) v[14] = ~v[14];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(m, ctx->b, sizeof m);
#else
    for (int i = 0; i < 16; i++) {
        uint64_t word = 0;
        for (int k = 7; k >= 0; k--) word = (word << 8) | ctx->b[8 * i + k];
        m[i] = word;
    }
#endif
    for (int i = 0; i < 12; i++) {
        const uint8_t *s = SIGMA[i];
        MIX(0, 4, 8, 12, m[s[0]], m[s[1]]);
        MIX(1, 5, 9, 13, m[s[2]], m[s[3]]);
        MIX(2, 6, 10, 14, m[s[4]], m[s[5]]);
        MIX(3, 7, 11, 15, m[s[6]], m[s[7]]);
        MIX(0, 5, 10, 15, m[s[8]], m[s[9]]);
        MIX(1, 6, 11, 12, m[s[10]], m[s[11]]);
        MIX(2, 7, 8, 13, m[s[12]], m[s[13]]);
        MIX(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) ctx->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2b_init(Blake2b *ctx) {
    for (int i = 0; i < 8; i++) ctx->h[i] = IV[i];
    ctx->h[0] ^= 0x01010000ULL ^ 8; /* no key, 8-byte digest */
    ctx->t = 0;
    ctx->c = 0;
}

static void blake2b_update(Blake2b *ctx, const uint8_t *in, size_t n) {
    while (n > 0) {
        if (ctx->c == 128) { /* a full block is compressed only once more input follows */
            ctx->t += 128;
            blake2b_compress(ctx, 0);
            ctx->c = 0;
        }
        size_t take = 128 - ctx->c < n ? 128 - ctx->c : n;
        memcpy(ctx->b + ctx->c, in, take);
        ctx->c += take;
        in += take;
        n -= take;
    }
}

/* The digest read as a big-endian integer, as int.from_bytes(digest, "big") */
static uint64_t blake2b_final(Blake2b *ctx) {
    ctx->t += ctx->c;
    while (ctx->c < 128) ctx->b[ctx->c++] = 0;
    blake2b_compress(ctx, 1);
    uint64_t out = 0;
    for (int i = 0; i < 8; i++) out = (out << 8) | ((ctx->h[0] >> (8 * i)) & 0xFF);
    return out;
}

/* ---- one document ---- */

typedef struct {
    Py_ssize_t start, end;
    int64_t tokens;
    double draw; /* from the hash of its text, once it is needed (-1 before) */
} Unit;

typedef struct {
    int64_t *data;
    size_t length, capacity;
} Int64s;

typedef struct {
    PyObject *text; /* the document as a str: only for `counter` */
    int kind;       /* the characters: the UTF-8 bytes themselves (ASCII), or `wide` */
    const void *data;
    Py_ssize_t length;
    const uint8_t *utf8;     /* the document's UTF-8 bytes */
    const int64_t *bytepos;  /* each character's offset in `utf8` (NULL: ASCII, the same) */
    int64_t room;
    int64_t overlap; /* tokens of a chunk's end repeated at the next one's start */
    PyObject *counter; /* NULL: the estimate, from `prefix` */
    int64_t *prefix;   /* estimated tokens before each character, counted at a word's start */
    Int64s *out;
    Py_UCS4 *wide; /* scratch, grown as needed: a non-ASCII document's characters */
    int64_t *positions;
    size_t wide_capacity;
    int failed; /* 1: out of memory, 2: a Python error is set, 3: not UTF-8 */
} Document;

static int push(Int64s *list, int64_t value) {
    if (list->length == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 1024;
        int64_t *grown = realloc(list->data, capacity * sizeof(int64_t));
        if (!grown) return -1;
        list->data = grown;
        list->capacity = capacity;
    }
    list->data[list->length++] = value;
    return 0;
}

static PyObject *as_bytes(const Int64s *list) {
    return PyBytes_FromStringAndSize(list->data ? (const char *)list->data : "",
                                     (Py_ssize_t)(list->length * sizeof(int64_t)));
}

static inline Py_UCS4 at(const Document *d, Py_ssize_t i) {
    return PyUnicode_READ(d->kind, d->data, i);
}

static inline int is_space(Py_UCS4 c) { return Py_UNICODE_ISSPACE(c); }

/* ASCII characters: 1 a letter, 2 white space, 0 anything else (filled at import) */
static uint8_t ascii_class[128];

static inline int is_letter(Py_UCS4 c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int emit(Document *d, Py_ssize_t start, Py_ssize_t end) {
    if (push(d->out, start) || push(d->out, end)) {
        d->failed = 1;
        return -1;
    }
    return 0;
}

/* estimate_vertex_tokens of text[start:end], letter by letter */
static int64_t estimate_scanned(const Document *d, Py_ssize_t start, Py_ssize_t end) {
    int64_t tokens = 0;
    Py_ssize_t run = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = at(d, i);
        if (is_letter(c)) {
            run++;
            continue;
        }
        tokens += (run + LETTERS_PER_TOKEN - 1) / LETTERS_PER_TOKEN;
        run = 0;
        if (!is_space(c)) tokens++;
    }
    return tokens + (run + LETTERS_PER_TOKEN - 1) / LETTERS_PER_TOKEN;
}

/* the loop of build_prefix, for one kind of string: READ(i) is the character at i */
#define PREFIX_LOOP(READ)                                                          \
    while (i < length) {                                                           \
        Py_UCS4 c = READ(i);                                                       \
        if (is_letter(c)) {                                                        \
            Py_ssize_t end = i + 1;                                                \
            while (end < length && is_letter(READ(end))) end++;                    \
            total += (end - i + LETTERS_PER_TOKEN - 1) / LETTERS_PER_TOKEN;        \
            for (; i < end; i++) prefix[i + 1] = total;                            \
            continue;                                                              \
        }                                                                          \
        if (!is_space(c)) total++;                                                 \
        prefix[++i] = total;                                                       \
    }

static int build_prefix(Document *d) {
    /* locals, not d's fields: is_space calls out, and the fields would be read again */
    const Py_ssize_t length = d->length;
    const void *data = d->data;
    const int kind = d->kind;
    int64_t *prefix = malloc((size_t)(length + 1) * sizeof(int64_t));
    if (!prefix) return -1;
    d->prefix = prefix;
    int64_t total = 0;
    Py_ssize_t i = 0;
    prefix[0] = 0;
    if (kind == PyUnicode_1BYTE_KIND) { /* most texts: ASCII, one byte a character */
        /* without branches: a word's tokens are counted at its 1st, 4th, 7th... letter, which
         * gives the same count as at its first letter for every span that cuts no word (the
         * only spans counted from here) */
        static const uint8_t next_phase[4] = {1, 2, 3, 1};
        const Py_UCS1 *bytes = data;
        unsigned phase = 0; /* 0: not in a word; 1, 2, 3: letter 1, 2, 3 of a group of three */
        for (; i < length; i++) {
            unsigned kind_of = ascii_class[bytes[i] & 0x7F];
            unsigned letter = kind_of & 1;
            phase = letter ? next_phase[phase] : 0;
            total += (kind_of == 0) | (phase == 1);
            prefix[i + 1] = total;
        }
    } else {
#define READ_ANY(k) PyUnicode_READ(kind, data, k)
        PREFIX_LOOP(READ_ANY)
    }
    return 0;
}

static inline int cuts_word(const Document *d, Py_ssize_t i) {
    return i > 0 && i < d->length && is_letter(at(d, i - 1)) && is_letter(at(d, i));
}

/* the tokens of text[start:end] (-1: failed) */
static int64_t count(Document *d, Py_ssize_t start, Py_ssize_t end) {
    if (d->counter == NULL) {
        if (cuts_word(d, start) || cuts_word(d, end)) return estimate_scanned(d, start, end);
        return d->prefix[end] - d->prefix[start];
    }
    PyObject *piece = PyUnicode_Substring(d->text, start, end);
    if (!piece) goto error;
    PyObject *result = PyObject_CallOneArg(d->counter, piece);
    Py_DECREF(piece);
    if (!result) goto error;
    long long tokens = PyLong_AsLongLong(result);
    Py_DECREF(result);
    if (tokens == -1 && PyErr_Occurred()) goto error;
    return tokens;
error:
    d->failed = 2;
    return -1;
}

/* trims white space from both ends; 0 when nothing is left */
static int trim(const Document *d, Py_ssize_t *start, Py_ssize_t *end) {
    while (*start < *end && is_space(at(d, *start))) (*start)++;
    while (*end > *start && is_space(at(d, *end - 1))) (*end)--;
    return *start < *end;
}

/* the next break of `level` at or after `from` and before `end`, as re.finditer finds it */
static int next_break(const Document *d, int level, Py_ssize_t from, Py_ssize_t end,
                      Py_ssize_t *found_start, Py_ssize_t *found_end) {
    const int kind = d->kind; /* held here: is_space calls out, so d->kind would be reread */
    const void *data = d->data;
#define CH(k) PyUnicode_READ(kind, data, k)
    for (Py_ssize_t i = from; i < end; i++) {
        Py_UCS4 c = CH(i);
        Py_ssize_t j = i + 1;
        if (level == 0) { /* \n[ \t]*\n\s* */
            if (c != '\n') {
                if (kind != PyUnicode_1BYTE_KIND) continue;
                const char *line = memchr((const char *)data + j, '\n', (size_t)(end - j));
                if (!line) return 0;
                i = line - (const char *)data - 1; /* the loop's i++ moves onto the line break */
                continue;
            }
            while (j < end && (CH(j) == ' ' || CH(j) == '\t')) j++;
            if (j >= end || CH(j) != '\n') continue;
            j++;
        } else if (level == 1) { /* (?<=[.!?])\s+ */
            if (!is_space(c) || i == 0) continue;
            Py_UCS4 before = CH(i - 1);
            if (before != '.' && before != '!' && before != '?') continue;
        } else if (!is_space(c)) { /* \s+ */
            continue;
        }
        while (j < end && is_space(CH(j))) j++;
        *found_start = i;
        *found_end = j;
        return 1;
    }
    return 0;
#undef CH
}

static int push_unit(Document *d, Unit **units, size_t *n, size_t *capacity, Py_ssize_t start,
                     Py_ssize_t end) {
    if (!trim(d, &start, &end)) return 0;
    if (*n == *capacity) {
        *capacity = *capacity ? *capacity * 2 : 16;
        Unit *grown = realloc(*units, *capacity * sizeof(Unit));
        if (!grown) {
            d->failed = 1;
            return -1;
        }
        *units = grown;
    }
    int64_t tokens = count(d, start, end);
    if (tokens < 0) return -1;
    (*units)[(*n)++] = (Unit){start, end, tokens, -1.0};
    return 0;
}

/* the span cut at every break of `level`, each unit trimmed and counted */
static Unit *find_units(Document *d, Py_ssize_t start, Py_ssize_t end, int level, size_t *n) {
    Unit *units = NULL;
    size_t capacity = 0;
    Py_ssize_t from = start, match_start, match_end;
    *n = 0;
    while (next_break(d, level, from, end, &match_start, &match_end)) {
        if (push_unit(d, &units, n, &capacity, start, match_start)) goto error;
        start = from = match_end;
    }
    if (push_unit(d, &units, n, &capacity, start, end)) goto error;
    return units;
error:
    free(units);
    return NULL;
}

/* the UTF-8 bytes of text[start:end], as str.encode() gives them */
static size_t utf8_of(const Document *d, Py_ssize_t start, Py_ssize_t end, const uint8_t **bytes) {
    if (d->bytepos == NULL) {
        *bytes = d->utf8 + start;
        return (size_t)(end - start);
    }
    *bytes = d->utf8 + d->bytepos[start];
    return (size_t)(d->bytepos[end] - d->bytepos[start]);
}

/* a cut after `unit`, with a chance of its tokens / `target`, drawn from blake2b of its text */
static int cut_after(Document *d, Unit *unit, double target) {
    if (unit->draw < 0) { /* the same draw at every depth: the text is hashed once */
        const uint8_t *bytes = NULL;
        size_t n = utf8_of(d, unit->start, unit->end, &bytes);
        Blake2b hash;
        blake2b_init(&hash);
        if (n <= DRAWN_BYTES) {
            blake2b_update(&hash, bytes, n);
        } else { /* a long unit: its ends and its length, one block as for a short one */
            uint8_t length[8];
            for (int i = 0; i < 8; i++) length[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
            blake2b_update(&hash, bytes, DRAWN_END);
            blake2b_update(&hash, bytes + n - DRAWN_END, DRAWN_END);
            blake2b_update(&hash, length, 8);
        }
        unit->draw = (double)(blake2b_final(&hash) >> 11) / 9007199254740992.0; /* 2**53 */
    }
    double chance = (double)(unit->tokens > 1 ? unit->tokens : 1) / target;
    return unit->draw < (chance < 1.0 ? chance : 1.0);
}

static int split(Document *d, Py_ssize_t start, Py_ssize_t end, int level, int too_big);

static int split_characters(Document *d, Py_ssize_t start, Py_ssize_t end) {
    while (start < end) {
        Py_ssize_t low = start + 1, high = end;
        while (low < high) { /* the longest prefix from `start` that fits */
            Py_ssize_t middle = (low + high + 1) / 2;
            int64_t tokens = count(d, start, middle);
            if (tokens < 0) return -1;
            if (tokens <= d->room)
                low = middle;
            else
                high = middle - 1;
        }
        if (emit(d, start, low)) return -1;
        start = low;
    }
    return 0;
}

/* units grouped between content-chosen cuts; a group that does not fit is cut again */
static int group(Document *d, Unit *units, size_t n, int level, double target, int depth,
                 int too_big) {
    Py_ssize_t start = units[0].start, end = units[n - 1].end;
    if (!too_big) {
        int64_t tokens = count(d, start, end);
        if (tokens < 0) return -1;
        if (tokens <= d->room) return emit(d, start, end);
    }
    if (n == 1) return split(d, start, end, level + 1, 1);
    size_t first = 0;
    int cut = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (depth < MAX_DEPTH && !cut_after(d, &units[i], target)) continue;
        cut = 1;
        if (group(d, units + first, i + 1 - first, level, target / 2, depth + 1, 0)) return -1;
        first = i + 1;
    }
    /* no cut at this target: a smaller target cuts more often */
    return group(d, units + first, n - first, level, target / 2, depth + 1, !cut);
}

/* one span cut at the breaks of `level` (0 paragraphs, 1 sentences, 2 spaces) */
static int split(Document *d, Py_ssize_t start, Py_ssize_t end, int level, int too_big) {
    if (!too_big) {
        int64_t tokens = count(d, start, end);
        if (tokens < 0) return -1;
        if (tokens <= d->room) return emit(d, start, end);
    }
    if (level == LEVELS) return split_characters(d, start, end);
    size_t n;
    Unit *units = find_units(d, start, end, level, &n);
    if (!units) return -1;
    int failed = n == 1 ? split(d, units[0].start, units[0].end, level + 1, 1)
                        : group(d, units, n, level, (double)d->room / 2, 0, 1);
    free(units);
    return failed;
}

/* each chunk but the first starts earlier, at a space inside the chunk before it, by at most
 * `overlap` tokens: from the last chunk back, so that each
 * looks at the cut of the one before it */
static int overlap_chunks(Document *d, size_t first) {
    int64_t *place = d->out->data + first;
    Py_ssize_t chunks = (Py_ssize_t)(d->out->length - first) / 2;
    for (Py_ssize_t j = chunks - 1; j >= 1; j--) {
        Py_ssize_t previous = place[2 * (j - 1)], cut = place[2 * j], start = cut;
        for (;;) {
            Py_ssize_t space = start - 2; /* text.rfind(" ", previous, start - 1) */
            while (space >= previous && at(d, space) != ' ') space--;
            if (space < previous) break;
            int64_t tokens = count(d, space + 1, cut);
            if (tokens < 0) return -1;
            if (tokens > d->overlap) break;
            start = space + 1;
        }
        place[2 * j] = start;
    }
    return 0;
}

static int split_document(Document *d) {
    Py_ssize_t start = 0, end = d->length;
    size_t first = d->out->length;
    if (!trim(d, &start, &end)) return 0;
    if (d->counter == NULL && build_prefix(d)) {
        d->failed = 1;
        return -1;
    }
    int failed = split(d, start, end, 0, 0) || (d->overlap > 0 && overlap_chunks(d, first));
    free(d->prefix);
    d->prefix = NULL;
    return failed;
}

/* ---- documents from UTF-8 ---- */

/* `wide` and `positions` hold at least `n` characters */
static int reserve(Document *d, size_t n) {
    if (n <= d->wide_capacity) return 0;
    Py_UCS4 *wide = realloc(d->wide, n * sizeof(Py_UCS4));
    if (wide) d->wide = wide;
    int64_t *positions = realloc(d->positions, (n + 1) * sizeof(int64_t));
    if (positions) d->positions = positions;
    if (!wide || !positions) return -1;
    d->wide_capacity = n;
    return 0;
}

/* points `d` at the document in `utf8[0:n]`: the bytes themselves when all are ASCII,
 * otherwise its characters decoded into `wide` (-1: out of memory or not UTF-8) */
static int load(Document *d, const uint8_t *utf8, size_t n) {
    d->utf8 = utf8;
    size_t ascii = 0;
    for (uint64_t word; ascii + 8 <= n; ascii += 8) { /* eight bytes at a time */
        memcpy(&word, utf8 + ascii, 8);
        if (word & 0x8080808080808080ULL) break;
    }
    while (ascii < n && utf8[ascii] < 0x80) ascii++;
    if (ascii == n) {
        d->kind = PyUnicode_1BYTE_KIND;
        d->data = utf8;
        d->length = (Py_ssize_t)n;
        d->bytepos = NULL;
        return 0;
    }
    if (reserve(d, n)) {
        d->failed = 1;
        return -1;
    }
    size_t chars = 0, i = 0;
    while (i < n) {
        uint8_t lead = utf8[i];
        int extra = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : -1;
        if (extra < 0 || i + (size_t)extra >= n) break;
        Py_UCS4 c = extra == 0 ? lead : (Py_UCS4)(lead & (0x3F >> extra));
        for (int k = 1; k <= extra; k++) {
            if ((utf8[i + k] & 0xC0) != 0x80) extra = -1;
            if (extra < 0) break;
            c = (c << 6) | (utf8[i + k] & 0x3F);
        }
        if (extra < 0) break;
        d->positions[chars] = (int64_t)i;
        d->wide[chars++] = c;
        i += (size_t)extra + 1;
    }
    if (i < n) {
        d->failed = 3;
        return -1;
    }
    d->positions[chars] = (int64_t)n;
    d->kind = PyUnicode_4BYTE_KIND;
    d->data = d->wide;
    d->length = (Py_ssize_t)chars;
    d->bytepos = d->positions;
    return 0;
}

/* ---- the module ---- */

static PyObject *spans(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"offsets", "data", "documents", "rooms", "counter", "overlap", NULL};
    Py_buffer offsets, data, documents, rooms;
    PyObject *counter = Py_None;
    long long overlap = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*y*y*|OL", keywords, &offsets, &data,
                                     &documents, &rooms, &counter, &overlap))
        return NULL;
    Py_ssize_t n = documents.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t texts = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t *offset = offsets.buf, *document = documents.buf, *room = rooms.buf;
    PyObject *result = NULL;
    int failed = rooms.len != documents.len;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        int64_t t = document[i];
        failed = t < 0 || t >= texts || offset[t] < 0 || offset[t] > offset[t + 1] ||
                 offset[t + 1] > (int64_t)data.len;
    }
    if (failed) {
        PyErr_SetString(PyExc_ValueError, "documents, rooms and offsets do not match the data");
        goto release;
    }
    Int64s out = {0}, bytes = {0}, counts = {0};
    Document d = {0};
    d.counter = counter == Py_None ? NULL : counter;
    d.overlap = overlap;
    d.out = &out;
    Py_BEGIN_ALLOW_THREADS;
    if (d.counter) Py_BLOCK_THREADS; /* the counter is Python code */
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        const uint8_t *utf8 = (const uint8_t *)data.buf + offset[document[i]];
        size_t first = out.length;
        d.room = room[i];
        failed = load(&d, utf8, (size_t)(offset[document[i] + 1] - offset[document[i]]));
        if (!failed && d.counter) {
            d.text = PyUnicode_FromKindAndData(d.kind, d.data, d.length);
            failed = d.text == NULL;
            if (failed) d.failed = 2;
        }
        failed = failed || split_document(&d) || push(&counts, (int64_t)(out.length - first) / 2);
        Py_CLEAR(d.text);
        for (size_t k = first; k < out.length && !failed; k++) { /* each place, in bytes */
            int64_t at = d.bytepos ? d.bytepos[out.data[k]] : out.data[k];
            failed = push(&bytes, offset[document[i]] + at);
        }
    }
    if (d.counter) Py_UNBLOCK_THREADS;
    Py_END_ALLOW_THREADS;
    free(d.wide);
    free(d.positions);
    if (d.failed == 3) {
        PyErr_SetString(PyExc_ValueError, "a document's text is not UTF-8");
    } else if (failed && d.failed != 2) {
        PyErr_NoMemory();
    } else if (!failed) {
        result = Py_BuildValue("(NNN)", as_bytes(&counts), as_bytes(&out), as_bytes(&bytes));
    }
    free(out.data);
    free(bytes.data);
    free(counts.data);
release:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&documents);
    PyBuffer_Release(&rooms);
    return result;
}

/* the [start, end) byte ranges `places` of `data`, one after another into `into` */
static PyObject *gather(PyObject *self, PyObject *args) {
    Py_buffer data, places, into;
    if (!PyArg_ParseTuple(args, "y*y*w*", &data, &places, &into)) return NULL;
    Py_ssize_t n = places.len / (Py_ssize_t)(2 * sizeof(int64_t));
    const int64_t *place = places.buf;
    int64_t total = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n && total >= 0; i++) {
        if (place[2 * i] < 0 || place[2 * i] > place[2 * i + 1] ||
            place[2 * i + 1] > (int64_t)data.len)
            total = -1;
        else
            total += place[2 * i + 1] - place[2 * i];
    }
    if (total != (int64_t)into.len) {
        PyErr_SetString(PyExc_ValueError, "the places do not fit the data or the output");
        goto release;
    }
    char *out = into.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t size = (size_t)(place[2 * i + 1] - place[2 * i]);
        memcpy(out, (const char *)data.buf + place[2 * i], size);
        out += size;
    }
    Py_END_ALLOW_THREADS;
    result = Py_NewRef(Py_None);
release:
    PyBuffer_Release(&data);
    PyBuffer_Release(&places);
    PyBuffer_Release(&into);
    return result;
}

static PyMethodDef methods[] = {
    {"spans", (PyCFunction)(void (*)(void))spans, METH_VARARGS | METH_KEYWORDS,
     "spans(offsets, data, documents, rooms, counter=None, overlap=0) -> (chunks per document, "
     "[start, end) in characters, [start, end) in bytes of data), as int64 bytes"},
    {"gather", gather, METH_VARARGS,
     "gather(data, places, into): copies the [start, end) byte ranges of data, one after another"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_splitter",
                                    "The chunking rule, compiled.", -1, methods};

PyMODINIT_FUNC PyInit__splitter(void) {
    for (Py_UCS4 c = 0; c < 128; c++) ascii_class[c] = is_letter(c) ? 1 : is_space(c) ? 2 : 0;
    return PyModule_Create(&module);
}
