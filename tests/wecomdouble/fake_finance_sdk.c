/*
 * A test double of Tencent's libWeWorkFinanceSdk_C.so: the same 17 exported functions
 * with the same C ABI (shared/specs/wecom-archive.md §1.2), serving a fixture stream
 * written by tests/wecomfix.py. Built by the test suite with gcc; never shipped.
 *
 * The fixture directory is named by the environment variable WXG_FAKE_WECOM:
 *
 *   corp          "CORPID\nSECRET\n"           Init() stores these; GetChatData answers
 *                                              errcode 40001 when the secret is wrong
 *   records.tsv   seq \t msgid \t ver \t encrypt_random_key \t encrypt_chat_msg \n
 *                 ascending seq (§1.5); mapped with mmap, again when the file is replaced
 *   media/NAME    the bytes of one sdkfileid; NAME = FNV-1a-64 of the id, 16 hex digits
 *   faults        lines "OP ACTION COUNT" re-read on every call, COUNT decremented and
 *                 the file rewritten (so a fault survives a process restart until used);
 *                 COUNT -1 = forever. OP: init | getchatdata | media | media-mid (only a
 *                 call with a non-empty indexbuf). ACTION: an rc (10001), errcode:N (a
 *                 server-side error inside the envelope with rc 0), sleep:MS (sleep, then
 *                 10001 when MS exceeds the call's timeout), crash (abort()).
 *   calls         appended "OP ARG\n" per call (what the connector asked for)
 *
 * encrypt_chat_msg = base64(nonce[16] || ChaCha20(key, nonce, "WXFK" || json)) where key
 * is the 32-character random key the connector unwraps with RSA (§1.6, §6.3): the real
 * DecryptData algorithm is unknown (§1.7), so the double has a cipher of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct Slice_t {
    char *buf;
    int len;
} Slice_t;

typedef struct MediaData {
    char *outindexbuf;
    int out_len;
    char *data;
    int data_len;
    int is_finish;
} MediaData_t;

typedef struct WeWorkFinanceSdk_t {
    char corpid[128];
    char secret[256];
    int inited;
} WeWorkFinanceSdk_t;

#define MEDIA_SLICE 524288

/* ------------------------------------------------------------------ fixture */

static const char *fixture_dir(void) {
    const char *d = getenv("WXG_FAKE_WECOM");
    return d ? d : ".";
}

static void fixture_path(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", fixture_dir(), name);
}

static void log_call(const char *op, const char *arg) {
    char p[4096];
    fixture_path(p, sizeof p, "calls");
    FILE *f = fopen(p, "a");
    if (!f) return;
    fprintf(f, "%s %s\n", op, arg);
    fclose(f);
}

static char *records = NULL;
static size_t records_len = 0;
static size_t *line_off = NULL;
static unsigned long long *line_seq = NULL;
static size_t nlines = 0;
static dev_t records_dev;
static ino_t records_ino;

/* (re)load when the file changed: a test appends records while a puller follows */
static int load_records(void) {
    char p[4096];
    fixture_path(p, sizeof p, "records.tsv");
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    if (records && (size_t)st.st_size == records_len && st.st_ino == records_ino &&
        st.st_dev == records_dev)
        return 0;
    if (records && records_len) munmap(records, records_len);
    free(line_off);
    free(line_seq);
    records = NULL;
    line_off = NULL;
    line_seq = NULL;
    nlines = 0;
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0) { close(fd); return -1; }
    records_len = (size_t)st.st_size;
    records_dev = st.st_dev;
    records_ino = st.st_ino;
    if (records_len == 0) { close(fd); records = ""; return 0; }
    records = mmap(NULL, records_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (records == MAP_FAILED) { records = NULL; return -1; }
    size_t cap = 1024;
    line_off = malloc(cap * sizeof *line_off);
    line_seq = malloc(cap * sizeof *line_seq);
    size_t pos = 0;
    while (pos < records_len) {
        if (nlines == cap) {
            cap *= 2;
            line_off = realloc(line_off, cap * sizeof *line_off);
            line_seq = realloc(line_seq, cap * sizeof *line_seq);
        }
        line_off[nlines] = pos;
        line_seq[nlines] = strtoull(records + pos, NULL, 10);
        nlines++;
        const char *nl = memchr(records + pos, '\n', records_len - pos);
        if (!nl) break;
        pos = (size_t)(nl - records) + 1;
    }
    return 0;
}

/* faults: returns the action of the first matching line with a count left, consuming it */
static int take_fault(const char *op, char *action, size_t n) {
    char p[4096];
    fixture_path(p, sizeof p, "faults");
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    char lines[64][200];
    int count = 0, hit = -1;
    while (count < 64 && fgets(lines[count], sizeof lines[count], f)) count++;
    fclose(f);
    for (int i = 0; i < count && hit < 0; i++) {
        char o[40], a[100];
        long c;
        if (sscanf(lines[i], "%39s %99s %ld", o, a, &c) != 3) continue;
        if (strcmp(o, op) != 0 || c == 0) continue;
        hit = i;
        snprintf(action, n, "%s", a);
        if (c > 0) snprintf(lines[i], sizeof lines[i], "%s %s %ld\n", o, a, c - 1);
    }
    if (hit < 0) return 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    f = fopen(tmp, "w");
    if (f) {
        for (int i = 0; i < count; i++) fputs(lines[i], f);
        fclose(f);
        rename(tmp, p);
    }
    return 1;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* 0: go on; >0: return this rc; <0: answer a server-side errcode (-value) */
static int apply_fault(const char *op, int timeout) {
    char action[100];
    if (!take_fault(op, action, sizeof action)) return 0;
    if (strcmp(action, "crash") == 0) abort();
    if (strncmp(action, "sleep:", 6) == 0) {
        long ms = atol(action + 6);
        long limit = (long)timeout * 1000;
        if (timeout > 0 && ms > limit) {
            sleep_ms(limit);
            return 10001;
        }
        sleep_ms(ms);
        return 0;
    }
    if (strncmp(action, "errcode:", 8) == 0) return -atoi(action + 8);
    return atoi(action);
}

/* ------------------------------------------------------------------ slices */

Slice_t *NewSlice(void) { return calloc(1, sizeof(Slice_t)); }

void FreeSlice(Slice_t *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

char *GetContentFromSlice(Slice_t *s) { return s ? s->buf : NULL; }

int GetSliceLen(Slice_t *s) { return s ? s->len : 0; }

static void slice_set(Slice_t *s, char *buf, int len) {
    free(s->buf);
    s->buf = buf;
    s->len = len;
}

MediaData_t *NewMediaData(void) { return calloc(1, sizeof(MediaData_t)); }

void FreeMediaData(MediaData_t *m) {
    if (!m) return;
    free(m->outindexbuf);
    free(m->data);
    free(m);
}

char *GetOutIndexBuf(MediaData_t *m) { return m->outindexbuf; }
char *GetData(MediaData_t *m) { return m->data; }
int GetIndexLen(MediaData_t *m) { return m->out_len; }
int GetDataLen(MediaData_t *m) { return m->data_len; }
int IsMediaDataFinish(MediaData_t *m) { return m->is_finish; }

/* ------------------------------------------------------------------ sdk */

WeWorkFinanceSdk_t *NewSdk(void) { return calloc(1, sizeof(WeWorkFinanceSdk_t)); }

void DestroySdk(WeWorkFinanceSdk_t *sdk) { free(sdk); }

int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
    if (!sdk || !corpid || !secret || !*corpid) return 10000;
    int rc = apply_fault("init", 0);
    if (rc > 0) return rc;
    snprintf(sdk->corpid, sizeof sdk->corpid, "%s", corpid);
    snprintf(sdk->secret, sizeof sdk->secret, "%s", secret);
    sdk->inited = 1;
    log_call("init", corpid);
    return 0;
}

static int corp_matches(WeWorkFinanceSdk_t *sdk, int *bad_corp) {
    char p[4096], line1[256] = "", line2[256] = "";
    fixture_path(p, sizeof p, "corp");
    FILE *f = fopen(p, "r");
    if (!f) return 1;
    if (!fgets(line1, sizeof line1, f)) line1[0] = 0;
    if (!fgets(line2, sizeof line2, f)) line2[0] = 0;
    fclose(f);
    line1[strcspn(line1, "\r\n")] = 0;
    line2[strcspn(line2, "\r\n")] = 0;
    *bad_corp = strcmp(line1, sdk->corpid) != 0;
    return !*bad_corp && strcmp(line2, sdk->secret) == 0;
}

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_str(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void server_error(Slice_t *out, int code) {
    char msg[512];
    const char *text = code == 301042 ? "get chatdata whiteip not match"
                     : code == 301052 ? "contract is over time.pls recharge"
                     : code == 40001 ? "invalid credential"
                     : code == 40013 ? "invalid corpid"
                     : "error";
    snprintf(msg, sizeof msg,
             "{\"errcode\":%d,\"errmsg\":\"%s, hint: [1700000000_42_fake], from ip: 127.0.0.1, "
             "more info at https://open.work.weixin.qq.com/devtool/query?e=%d\"}",
             code, text, code);
    slice_set(out, strdup(msg), (int)strlen(msg));
}

int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit,
                const char *proxy, const char *passwd, int timeout, Slice_t *chatDatas) {
    (void)proxy;
    (void)passwd;
    if (!sdk || !sdk->inited || !chatDatas) return 10000;
    if (limit == 0 || limit > 1000) return 10000;
    char arg[64];
    snprintf(arg, sizeof arg, "%llu %u", seq, limit);
    log_call("getchatdata", arg);
    int rc = apply_fault("getchatdata", timeout);
    if (rc > 0) return rc;
    if (rc < 0) {
        server_error(chatDatas, -rc);
        return 0;
    }
    int bad_corp = 0;
    if (!corp_matches(sdk, &bad_corp)) {
        server_error(chatDatas, bad_corp ? 40013 : 40001);
        return 0;
    }
    if (load_records() != 0) return 10003;
    /* first record with seq > requested (binary search) */
    size_t lo = 0, hi = nlines;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (line_seq[mid] <= seq) lo = mid + 1; else hi = mid;
    }
    Buf b = {0};
    buf_str(&b, "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[");
    for (size_t i = lo, k = 0; i < nlines && k < limit; i++, k++) {
        const char *line = records + line_off[i];
        const char *end = memchr(line, '\n', records_len - line_off[i]);
        if (!end) end = records + records_len;
        const char *f[5];
        size_t fl[5];
        const char *c = line;
        for (int j = 0; j < 5; j++) {
            const char *tab = j < 4 ? memchr(c, '\t', (size_t)(end - c)) : end;
            if (!tab) tab = end;
            f[j] = c;
            fl[j] = (size_t)(tab - c);
            c = tab < end ? tab + 1 : end;
        }
        if (k) buf_str(&b, ",");
        buf_str(&b, "{\"seq\":");
        buf_add(&b, f[0], fl[0]);
        buf_str(&b, ",\"msgid\":\"");
        buf_add(&b, f[1], fl[1]);
        buf_str(&b, "\",\"publickey_ver\":");
        buf_add(&b, f[2], fl[2]);
        buf_str(&b, ",\"encrypt_random_key\":\"");
        buf_add(&b, f[3], fl[3]);
        buf_str(&b, "\",\"encrypt_chat_msg\":\"");
        buf_add(&b, f[4], fl[4]);
        buf_str(&b, "\"}");
    }
    buf_str(&b, "]}");
    slice_set(chatDatas, b.p, (int)b.len);
    return 0;
}

/* ------------------------------------------------------------------ DecryptData */

static uint32_t rotl(uint32_t v, int c) { return (v << c) | (v >> (32 - c)); }

#define QR(a, b, c, d) \
    a += b; d ^= a; d = rotl(d, 16); \
    c += d; b ^= c; b = rotl(b, 12); \
    a += b; d ^= a; d = rotl(d, 8); \
    c += d; b ^= c; b = rotl(b, 7);

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* RFC 7539 ChaCha20; nonce16 = initial block counter (LE) || 96-bit nonce */
static void chacha20(const unsigned char key[32], const unsigned char nonce16[16],
                     unsigned char *data, size_t n) {
    uint32_t st[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
    for (int i = 0; i < 8; i++) st[4 + i] = le32(key + 4 * i);
    for (int i = 0; i < 4; i++) st[12 + i] = le32(nonce16 + 4 * i);
    unsigned char ks[64];
    for (size_t off = 0; off < n; off += 64) {
        uint32_t x[16];
        memcpy(x, st, sizeof x);
        for (int r = 0; r < 10; r++) {
            QR(x[0], x[4], x[8], x[12]) QR(x[1], x[5], x[9], x[13])
            QR(x[2], x[6], x[10], x[14]) QR(x[3], x[7], x[11], x[15])
            QR(x[0], x[5], x[10], x[15]) QR(x[1], x[6], x[11], x[12])
            QR(x[2], x[7], x[8], x[13]) QR(x[3], x[4], x[9], x[14])
        }
        for (int i = 0; i < 16; i++) {
            uint32_t v = x[i] + st[i];
            ks[4 * i] = (unsigned char)v;
            ks[4 * i + 1] = (unsigned char)(v >> 8);
            ks[4 * i + 2] = (unsigned char)(v >> 16);
            ks[4 * i + 3] = (unsigned char)(v >> 24);
        }
        size_t m = n - off < 64 ? n - off : 64;
        for (size_t i = 0; i < m; i++) data[off + i] ^= ks[i];
        st[12]++;
    }
}

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static unsigned char *b64decode(const char *s, size_t *outlen) {
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) { free(out); return NULL; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return out;
}

int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    if (!encrypt_key || !encrypt_msg || !msg) return 10000;
    if (strlen(encrypt_key) != 32) return 10008;
    size_t n;
    unsigned char *raw = b64decode(encrypt_msg, &n);
    if (!raw) return 10006;
    if (n < 20) { free(raw); return 10006; }
    unsigned char *body = raw + 16;
    size_t blen = n - 16;
    chacha20((const unsigned char *)encrypt_key, raw, body, blen);
    if (memcmp(body, "WXFK", 4) != 0) { free(raw); return 10006; }
    char *out = malloc(blen - 4 + 1);
    memcpy(out, body + 4, blen - 4);
    out[blen - 4] = 0;
    free(raw);
    slice_set(msg, out, (int)(blen - 4));
    return 0;
}

/* ------------------------------------------------------------------ GetMediaData */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

int GetMediaData(WeWorkFinanceSdk_t *sdk, const char *indexbuf, const char *sdkFileid,
                 const char *proxy, const char *passwd, int timeout, MediaData_t *media) {
    (void)proxy;
    (void)passwd;
    if (!sdk || !sdk->inited || !sdkFileid || !media) return 10000;
    int mid = indexbuf && *indexbuf;
    log_call("media", mid ? indexbuf : "first");
    int rc = apply_fault("media", timeout);
    if (rc == 0 && mid) rc = apply_fault("media-mid", timeout);
    if (rc != 0) return rc > 0 ? rc : 10003;
    char name[64], p[4096];
    snprintf(name, sizeof name, "media/%016llx", (unsigned long long)fnv1a(sdkFileid));
    fixture_path(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    if (!f) return 10005;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    unsigned long long start = 0, stop = 0;
    if (mid) {
        if (sscanf(indexbuf, "Range:bytes=%llu-%llu", &start, &stop) != 2 ||
            start > (unsigned long long)size) {
            fclose(f);
            return 10000;
        }
    }
    size_t want = (size_t)size - start < MEDIA_SLICE ? (size_t)size - start : MEDIA_SLICE;
    free(media->data);
    media->data = malloc(want ? want : 1);
    fseek(f, (long)start, SEEK_SET);
    size_t got = fread(media->data, 1, want, f);
    fclose(f);
    media->data_len = (int)got;
    free(media->outindexbuf);
    media->outindexbuf = NULL;
    media->out_len = 0;
    unsigned long long next = start + got;
    if (next >= (unsigned long long)size) {
        media->is_finish = 1;
        media->outindexbuf = strdup("");
    } else {
        char ib[96];
        unsigned long long last = next + MEDIA_SLICE - 1;
        if (last >= (unsigned long long)size) last = (unsigned long long)size - 1;
        snprintf(ib, sizeof ib, "Range:bytes=%llu-%llu", next, last);
        media->outindexbuf = strdup(ib);
        media->out_len = (int)strlen(ib);
        media->is_finish = 0;
    }
    return 0;
}
