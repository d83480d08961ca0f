/* The seal stage's per-message loop in one native call per batch (optional).
 *
 * ``seal_messages`` does for each prepared message exactly what the Python loop in
 * ``wxguard.seal._seal_messages_py`` does — AES-256-GCM of the packed body bound to its
 * ledger position, the stored-row digest, the ledger leaf, the hash chain and the Merkle
 * frontier — and builds the SQLite rows. The Python loop is the reference: a test
 * compares the two byte for byte on generated batches, and wxguard falls back to it when
 * this module was not built (no compiler, no OpenSSL headers). Formats:
 * docs/formats.md and wxguard/proofcheck.py; the loop's cost: docs/performance.md.
 *
 * Beside it, per record: keyed fingerprints (``fingerprint``), the packed plaintext and
 * its commitment (``pack_commit``) and the dedupe key of a message id (``dedupe_key``),
 * each with its Python reference named in its docstring.
 *
 * Every primitive but BLAKE2b is OpenSSL's libcrypto (EVP), fetched once.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define NONCE 12
#define TAG 16
#define HASH 32
#define MAX_FRONTIER 64

static EVP_MD *sha256_md;
static EVP_CIPHER *gcm_cipher;

/* Fields of a ``wxguard.seal.Prepared`` tuple. */
enum {
    P_SOURCE, P_MSGID, P_MID, P_KIND, P_SENT_AT, P_CHAT, P_FLAGS, P_MEDIA, P_BLOBS,
    P_RECALL, P_SENDER, P_RECIPIENTS, P_CONV, P_DKEY, P_CFP, P_SENDER_FP, P_CONV_FP,
    P_PACKED, P_COMMIT, P_FIELDS
};

typedef struct {
    const char *p;
    Py_ssize_t n;
} span;

static int
str_span(PyObject *o, span *out, const char *what)
{
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "prepared message: %s must be str", what);
        return -1;
    }
    out->p = PyUnicode_AsUTF8AndSize(o, &out->n);
    return out->p == NULL ? -1 : 0;
}

static int
bytes_span(PyObject *o, span *out, const char *what, Py_ssize_t want)
{
    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "prepared message: %s must be bytes", what);
        return -1;
    }
    out->p = PyBytes_AS_STRING(o);
    out->n = PyBytes_GET_SIZE(o);
    if (want >= 0 && out->n != want) {
        PyErr_Format(PyExc_ValueError, "prepared message: %s must be %zd bytes, got %zd",
                     what, want, out->n);
        return -1;
    }
    return 0;
}

static void
put_be32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

static void
put_be64(unsigned char *b, uint64_t v)
{
    put_be32(b, (uint32_t)(v >> 32));
    put_be32(b + 4, (uint32_t)v);
}

static int
lengths_fit(const span *s, int n)
{
    for (int i = 0; i < n; i++)
        if ((uint64_t)s[i].n > 0xffffffffu) {
            PyErr_SetString(PyExc_ValueError, "prepared message: a field exceeds 4 GiB");
            return 0;
        }
    return 1;
}

/* SHA-256 over ``n`` spans. */
static int
sha256_parts(EVP_MD_CTX *md, const span *parts, int n, unsigned char *out)
{
    if (!EVP_DigestInit_ex(md, sha256_md, NULL))
        return -1;
    for (int i = 0; i < n; i++)
        if (parts[i].n && !EVP_DigestUpdate(md, parts[i].p, (size_t)parts[i].n))
            return -1;
    return EVP_DigestFinal_ex(md, out, NULL) ? 0 : -1;
}

static PyObject *
new_bytearray(const void *p, Py_ssize_t n)
{
    return PyByteArray_FromStringAndSize((const char *)p, n);
}

/* ms // 86400000 as Python floors it (C division truncates toward zero). */
static long long
floor_day(long long ms)
{
    return ms / 86400000LL - (ms % 86400000LL < 0);
}

PyDoc_STRVAR(seal_messages_doc,
"seal_messages(todo, bucket_key, nonces, seq0, head, frontier, now)\n"
"-> (rows, ledger_rows, key_rows, head, frontier)\n\n"
"Seal prepared messages at ledger positions seq0, seq0+1, ...; ``bucket_key(sent_at)``\n"
"gives (key id, 32-byte AES key) and is asked once per day of sent_at; ``nonces`` holds\n"
"12 random bytes per message; ``frontier`` is the Merkle frontier's [(height, hash)].\n"
"Same result as wxguard.seal._seal_messages_py.");

static PyObject *
seal_messages(PyObject *self, PyObject *args)
{
    PyObject *todo, *bucket_key, *frontier_in;
    Py_buffer nonces, head_in;
    long long seq0, now;
    if (!PyArg_ParseTuple(args, "O!Oy*Ly*O!L", &PyList_Type, &todo, &bucket_key, &nonces,
                          &seq0, &head_in, &PyList_Type, &frontier_in, &now))
        return NULL;
    (void)self;

    PyObject *rows = NULL, *ledger_rows = NULL, *key_rows = NULL, *result = NULL;
    PyObject *kind_message = NULL, *frontier_out = NULL;
    EVP_MD_CTX *md = NULL;
    EVP_CIPHER_CTX *aes = NULL;
    unsigned char *aad = NULL;
    Py_ssize_t aad_cap = 0;
    unsigned char head[HASH];
    unsigned char stack_hash[MAX_FRONTIER][HASH];
    long long stack_height[MAX_FRONTIER];
    int depth = 0;
    /* A tuple of the messages: ours, so bucket_key (Python) cannot change what we read. */
    PyObject *items = PyList_AsTuple(todo);
    if (items == NULL) {
        PyBuffer_Release(&nonces);
        PyBuffer_Release(&head_in);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(items);

    if (head_in.len != HASH) {
        PyErr_SetString(PyExc_ValueError, "ledger head must be 32 bytes");
        goto done;
    }
    memcpy(head, head_in.buf, HASH);
    if (nonces.len < NONCE * n) {
        PyErr_Format(PyExc_ValueError, "%zd nonce bytes for %zd messages", nonces.len, n);
        goto done;
    }
    if (PyList_GET_SIZE(frontier_in) > MAX_FRONTIER) {
        PyErr_SetString(PyExc_ValueError, "Merkle frontier is too deep");
        goto done;
    }
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(frontier_in); j++) {
        PyObject *e = PyList_GET_ITEM(frontier_in, j);
        char *h;
        Py_ssize_t hn;
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(e, 1))) {
            PyErr_SetString(PyExc_TypeError, "frontier entries are (height, hash)");
            goto done;
        }
        stack_height[depth] = PyLong_AsLongLong(PyTuple_GET_ITEM(e, 0));
        if (stack_height[depth] == -1 && PyErr_Occurred())
            goto done;
        if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(e, 1), &h, &hn) < 0)
            goto done;
        if (hn != HASH) {
            PyErr_SetString(PyExc_ValueError, "frontier hashes are 32 bytes");
            goto done;
        }
        memcpy(stack_hash[depth++], h, HASH);
    }

    rows = PyList_New(n);
    ledger_rows = PyList_New(n);
    key_rows = PyList_New(n);
    kind_message = PyUnicode_FromString("message");
    md = EVP_MD_CTX_new();
    aes = EVP_CIPHER_CTX_new();
    if (!rows || !ledger_rows || !key_rows || !kind_message)
        goto done;
    if (!md || !aes) {
        PyErr_NoMemory();
        goto done;
    }

    long long cur_day = 0, cur_kid = 0;
    int have_key = 0;
    PyObject *cur_kid_obj = NULL; /* borrowed from the last bucket_key result, kept below */
    PyObject *kid_keep = NULL;
    const unsigned char *nonce = (const unsigned char *)nonces.buf;

    for (Py_ssize_t i = 0; i < n; i++, nonce += NONCE) {
        PyObject *pm = PyTuple_GET_ITEM(items, i);
        if (!PyTuple_Check(pm) || PyTuple_GET_SIZE(pm) != P_FIELDS) {
            PyErr_Format(PyExc_TypeError, "todo[%zd] is not a prepared message", i);
            goto loop_fail;
        }
        span source, msgid, mid, kind, chat, flags, cfp, sfp, vfp, packed, commit;
        if (str_span(PyTuple_GET_ITEM(pm, P_SOURCE), &source, "source") ||
            str_span(PyTuple_GET_ITEM(pm, P_MSGID), &msgid, "source msg id") ||
            str_span(PyTuple_GET_ITEM(pm, P_MID), &mid, "message id") ||
            str_span(PyTuple_GET_ITEM(pm, P_KIND), &kind, "kind") ||
            str_span(PyTuple_GET_ITEM(pm, P_CHAT), &chat, "chat") ||
            str_span(PyTuple_GET_ITEM(pm, P_FLAGS), &flags, "flags") ||
            bytes_span(PyTuple_GET_ITEM(pm, P_CFP), &cfp, "content fingerprint", -1) ||
            bytes_span(PyTuple_GET_ITEM(pm, P_SENDER_FP), &sfp, "sender fingerprint", -1) ||
            bytes_span(PyTuple_GET_ITEM(pm, P_CONV_FP), &vfp, "conversation fingerprint", -1) ||
            bytes_span(PyTuple_GET_ITEM(pm, P_PACKED), &packed, "body", -1) ||
            bytes_span(PyTuple_GET_ITEM(pm, P_COMMIT), &commit, "commitment", HASH))
            goto loop_fail;
        span all[] = {source, msgid, kind, chat, flags, mid, packed};
        if (!lengths_fit(all, 7) || packed.n > INT_MAX - NONCE - TAG)
            goto loop_fail;
        PyObject *sent_obj = PyTuple_GET_ITEM(pm, P_SENT_AT);
        long long sent_at = PyLong_AsLongLong(sent_obj);
        long long media = PyLong_AsLongLong(PyTuple_GET_ITEM(pm, P_MEDIA));
        if ((sent_at == -1 || media == -1) && PyErr_Occurred())
            goto loop_fail;
        long long seq = seq0 + i;

        /* The day's data key (the caller's bucket_key caches by day as well). */
        long long day = floor_day(sent_at);
        if (!have_key || day != cur_day) {
            PyObject *hit = PyObject_CallOneArg(bucket_key, sent_obj);
            if (hit == NULL)
                goto loop_fail;
            if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 2 ||
                !PyBytes_Check(PyTuple_GET_ITEM(hit, 1)) ||
                PyBytes_GET_SIZE(PyTuple_GET_ITEM(hit, 1)) != 32) {
                Py_DECREF(hit);
                PyErr_SetString(PyExc_TypeError, "bucket_key must return (int, 32 bytes)");
                goto loop_fail;
            }
            long long kid = PyLong_AsLongLong(PyTuple_GET_ITEM(hit, 0));
            if (kid == -1 && PyErr_Occurred()) {
                Py_DECREF(hit);
                goto loop_fail;
            }
            if (!have_key || kid != cur_kid) {
                if (!EVP_EncryptInit_ex(aes, gcm_cipher, NULL,
                                        (const unsigned char *)PyBytes_AS_STRING(
                                            PyTuple_GET_ITEM(hit, 1)),
                                        NULL)) {
                    Py_DECREF(hit);
                    goto ssl_fail;
                }
            }
            Py_XDECREF(kid_keep);
            kid_keep = hit; /* keeps the kid object alive */
            cur_kid_obj = PyTuple_GET_ITEM(hit, 0);
            cur_kid = kid;
            cur_day = day;
            have_key = 1;
        }

        /* AAD "msg\0<seq>\0<message id>" (wxguard.sealed.body_aad). */
        char seqtxt[24];
        int seqlen = snprintf(seqtxt, sizeof seqtxt, "%lld", seq);
        Py_ssize_t aad_n = 4 + seqlen + 1 + mid.n;
        if (aad_n > aad_cap) {
            unsigned char *grown = PyMem_Realloc(aad, (size_t)aad_n);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto loop_fail;
            }
            aad = grown;
            aad_cap = aad_n;
        }
        memcpy(aad, "msg\0", 4);
        memcpy(aad + 4, seqtxt, (size_t)seqlen);
        aad[4 + seqlen] = 0;
        memcpy(aad + 5 + seqlen, mid.p, (size_t)mid.n);

        /* body = nonce || AES-256-GCM(packed, aad) || tag (wxguard.crypto.seal). */
        Py_ssize_t body_n = NONCE + packed.n + TAG;
        PyObject *body = PyByteArray_FromStringAndSize(NULL, body_n);
        if (body == NULL)
            goto loop_fail;
        unsigned char *b = (unsigned char *)PyByteArray_AS_STRING(body);
        int outl = 0, finl = 0;
        memcpy(b, nonce, NONCE);
        if (!EVP_EncryptInit_ex(aes, NULL, NULL, NULL, nonce) ||
            !EVP_EncryptUpdate(aes, NULL, &outl, aad, (int)aad_n) ||
            !EVP_EncryptUpdate(aes, b + NONCE, &outl, (const unsigned char *)packed.p,
                               (int)packed.n) ||
            !EVP_EncryptFinal_ex(aes, b + NONCE + outl, &finl) ||
            !EVP_CIPHER_CTX_ctrl(aes, EVP_CTRL_GCM_GET_TAG, TAG, b + NONCE + packed.n)) {
            Py_DECREF(body);
            goto ssl_fail;
        }

        /* Stored-row digest (wxguard.sealed.message_stored_digest). */
        unsigned char rowhead[4 * 8 + 5 * 4];
        put_be64(rowhead, (uint64_t)seq);
        put_be64(rowhead + 8, (uint64_t)sent_at);
        put_be64(rowhead + 16, (uint64_t)cur_kid);
        put_be64(rowhead + 24, (uint64_t)media);
        put_be32(rowhead + 32, (uint32_t)source.n);
        put_be32(rowhead + 36, (uint32_t)msgid.n);
        put_be32(rowhead + 40, (uint32_t)kind.n);
        put_be32(rowhead + 44, (uint32_t)chat.n);
        put_be32(rowhead + 48, (uint32_t)flags.n);
        span stored_parts[] = {
            {(const char *)rowhead, sizeof rowhead}, source, msgid, kind, chat, flags,
            sfp, vfp, cfp, {(const char *)b, body_n},
        };
        unsigned char stored[HASH], leaf[HASH];
        if (sha256_parts(md, stored_parts, 10, stored) < 0) {
            Py_DECREF(body);
            goto ssl_fail;
        }

        /* Leaf (proofcheck.leaf_hash): 0x00 | frame("message") | frame(mid) | commit | stored. */
        unsigned char lead[1 + 4 + 7 + 4];
        lead[0] = 0;
        put_be32(lead + 1, 7);
        memcpy(lead + 5, "message", 7);
        put_be32(lead + 12, (uint32_t)mid.n);
        span leaf_parts[] = {
            {(const char *)lead, sizeof lead}, mid, commit, {(const char *)stored, HASH},
        };
        /* Chain (ledger.chain_next): "wxguard-chain\0" | prev | leaf. */
        span chain_parts[] = {
            {"wxguard-chain\0", 14}, {(const char *)head, HASH}, {(const char *)leaf, HASH},
        };
        if (sha256_parts(md, leaf_parts, 4, leaf) < 0 ||
            sha256_parts(md, chain_parts, 3, head) < 0) {
            Py_DECREF(body);
            goto ssl_fail;
        }

        /* Merkle frontier (ledger.Frontier.append). */
        unsigned char node[HASH];
        long long height = 0;
        memcpy(node, leaf, HASH);
        while (depth > 0 && stack_height[depth - 1] == height) {
            span parts[] = {
                {"\x01", 1}, {(const char *)stack_hash[depth - 1], HASH},
                {(const char *)node, HASH},
            };
            if (sha256_parts(md, parts, 3, node) < 0) {
                Py_DECREF(body);
                goto ssl_fail;
            }
            depth--;
            height++;
        }
        if (depth == MAX_FRONTIER) {
            Py_DECREF(body);
            PyErr_SetString(PyExc_OverflowError, "Merkle frontier overflow");
            goto loop_fail;
        }
        stack_height[depth] = height;
        memcpy(stack_hash[depth++], node, HASH);

        /* Rows: messages, ledger, message_keys (as wxguard.seal._seal_messages_py). The
         * chat type is a StrEnum: bound as a plain str, since sqlite3 binds only exact
         * str without a lookup in its adapter registry. */
        PyObject *row = Py_BuildValue(
            "(LOOOONNNONOONL)", seq, PyTuple_GET_ITEM(pm, P_SOURCE),
            PyTuple_GET_ITEM(pm, P_MSGID), PyTuple_GET_ITEM(pm, P_KIND), sent_obj,
            new_bytearray(sfp.p, sfp.n), new_bytearray(vfp.p, vfp.n),
            PyUnicode_FromStringAndSize(chat.p, chat.n), cur_kid_obj,
            new_bytearray(cfp.p, cfp.n),
            PyTuple_GET_ITEM(pm, P_FLAGS), PyTuple_GET_ITEM(pm, P_MEDIA), body, now);
        if (row == NULL)
            goto loop_fail;
        PyList_SET_ITEM(rows, i, row);
        PyObject *lrow = Py_BuildValue("(LOONN)", seq, kind_message, PyTuple_GET_ITEM(pm, P_MID),
                                       new_bytearray(leaf, HASH), new_bytearray(head, HASH));
        if (lrow == NULL)
            goto loop_fail;
        PyList_SET_ITEM(ledger_rows, i, lrow);
        PyObject *krow = Py_BuildValue("(OL)", PyTuple_GET_ITEM(pm, P_DKEY), seq);
        if (krow == NULL)
            goto loop_fail;
        PyList_SET_ITEM(key_rows, i, krow);
        continue;

    ssl_fail:
        PyErr_Format(PyExc_RuntimeError, "OpenSSL failed sealing todo[%zd]", i);
    loop_fail:
        Py_XDECREF(kid_keep);
        goto done;
    }
    Py_XDECREF(kid_keep);

    frontier_out = PyList_New(depth);
    if (frontier_out == NULL)
        goto done;
    for (int j = 0; j < depth; j++) {
        PyObject *e = Py_BuildValue("(Ly#)", stack_height[j], (const char *)stack_hash[j],
                                    (Py_ssize_t)HASH);
        if (e == NULL)
            goto done;
        PyList_SET_ITEM(frontier_out, j, e);
    }
    result = Py_BuildValue("(OOOy#O)", rows, ledger_rows, key_rows, (const char *)head,
                           (Py_ssize_t)HASH, frontier_out);

done:
    Py_DECREF(items);
    Py_XDECREF(rows);
    Py_XDECREF(ledger_rows);
    Py_XDECREF(key_rows);
    Py_XDECREF(kind_message);
    Py_XDECREF(frontier_out);
    EVP_MD_CTX_free(md);
    EVP_CIPHER_CTX_free(aes);
    PyMem_Free(aad);
    PyBuffer_Release(&nonces);
    PyBuffer_Release(&head_in);
    return result;
}

PyDoc_STRVAR(fingerprint_doc,
"fingerprint(key, domain, data) -> 16 bytes\n\n"
"HMAC-SHA-256(key, domain || 0x00 || data) cut to 16 bytes: the same value as\n"
"wxguard.crypto.Fingerprinter.of_bytes (RFC 2104 over OpenSSL's SHA-256, whose HMAC\n"
"one-shot looks the digest up on every call).");

static PyObject *
fingerprint(PyObject *self, PyObject *args)
{
    Py_buffer key, domain, data;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*", &key, &domain, &data))
        return NULL;
    PyObject *result = NULL;
    unsigned char block[64], inner[HASH], out[HASH];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(block, 0, sizeof block);
    if (key.len > 64) {
        span k = {(const char *)key.buf, key.len};
        if (sha256_parts(md, &k, 1, block) < 0)
            goto ssl_fail;
    } else {
        memcpy(block, key.buf, (size_t)key.len);
    }
    for (int i = 0; i < 64; i++)
        block[i] ^= 0x36;
    span in_parts[] = {
        {(const char *)block, 64}, {(const char *)domain.buf, domain.len}, {"\0", 1},
        {(const char *)data.buf, data.len},
    };
    if (sha256_parts(md, in_parts, 4, inner) < 0)
        goto ssl_fail;
    for (int i = 0; i < 64; i++)
        block[i] ^= 0x36 ^ 0x5c;
    span out_parts[] = {{(const char *)block, 64}, {(const char *)inner, HASH}};
    if (sha256_parts(md, out_parts, 2, out) < 0)
        goto ssl_fail;
    result = PyBytes_FromStringAndSize((const char *)out, 16);
    goto done;
ssl_fail:
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed computing a fingerprint");
done:
    OPENSSL_cleanse(block, sizeof block);
    EVP_MD_CTX_free(md);
    PyBuffer_Release(&key);
    PyBuffer_Release(&domain);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(pack_commit_doc,
"pack_commit(salt, canonical, raw, compress) -> (packed body, commitment)\n\n"
"The sealed plaintext salt(16) | u32 len | canonical | raw, packed as\n"
"wxguard.codec.Codec.pack does with ``compress`` (its compressor's method), and its\n"
"commitment (wxguard.proofcheck.commitment).");

static PyObject *
pack_commit(PyObject *self, PyObject *args)
{
    Py_buffer salt, canonical, raw;
    PyObject *compress;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*O", &salt, &canonical, &raw, &compress))
        return NULL;
    PyObject *result = NULL, *pt = NULL, *z = NULL, *packed = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char commit[HASH];
    if (salt.len != 16) {
        PyErr_Format(PyExc_ValueError, "a salt is 16 bytes, got %zd", salt.len);
        goto done;
    }
    if ((uint64_t)canonical.len > 0xffffffffu) {
        PyErr_SetString(PyExc_ValueError, "canonical form exceeds 4 GiB");
        goto done;
    }
    Py_ssize_t n = 16 + 4 + canonical.len + raw.len;
    pt = PyBytes_FromStringAndSize(NULL, n);
    if (pt == NULL)
        goto done;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(pt);
    memcpy(p, salt.buf, 16);
    put_be32(p + 16, (uint32_t)canonical.len);
    memcpy(p + 20, canonical.buf, (size_t)canonical.len);
    memcpy(p + 20 + canonical.len, raw.buf, (size_t)raw.len);
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    span parts[] = {{"wxguard-commit-v1\0", 18}, {(const char *)p, n}};
    if (sha256_parts(md, parts, 2, commit) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed computing a commitment");
        goto done;
    }
    z = PyObject_CallOneArg(compress, pt);
    if (z == NULL)
        goto done;
    if (!PyBytes_Check(z)) {
        PyErr_SetString(PyExc_TypeError, "compress must return bytes");
        goto done;
    }
    /* Codec.pack: codec byte 1 and the compressed form when it is smaller, else 0 and
     * the plaintext as is. */
    int small = PyBytes_GET_SIZE(z) + 1 < n;
    const char *src = small ? PyBytes_AS_STRING(z) : (const char *)p;
    Py_ssize_t srcn = small ? PyBytes_GET_SIZE(z) : n;
    packed = PyBytes_FromStringAndSize(NULL, srcn + 1);
    if (packed == NULL)
        goto done;
    PyBytes_AS_STRING(packed)[0] = small ? 1 : 0;
    memcpy(PyBytes_AS_STRING(packed) + 1, src, (size_t)srcn);
    result = Py_BuildValue("(Oy#)", packed, (const char *)commit, (Py_ssize_t)HASH);
done:
    Py_XDECREF(pt);
    Py_XDECREF(z);
    Py_XDECREF(packed);
    EVP_MD_CTX_free(md);
    PyBuffer_Release(&salt);
    PyBuffer_Release(&canonical);
    PyBuffer_Release(&raw);
    return result;
}

/* ------------------------------------------------------------------ dedupe keys
 *
 * wxguard.msgkey.dedupe_key, the reference (tests compare the two on generated ids):
 * BLAKE2b with an 8-byte digest (RFC 7693; OpenSSL 3.0 has no variable-size BLAKE2b) of
 * the id's UTF-8, and the send time the id carries, if any (specs/wecom-archive.md §2.1).
 */

static const uint64_t b2_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

static const uint8_t b2_sigma[10][16] = {
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
};  /* rounds 10 and 11 reuse rows 0 and 1 */

static inline uint64_t
rotr64(uint64_t x, int n)
{
    return (x >> n) | (x << (64 - n));
}

static void
b2_compress(uint64_t h[8], const unsigned char block[128], uint64_t t, int last)
{
    uint64_t v[16], m[16];
    for (int i = 0; i < 16; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--)
            w = (w << 8) | block[8 * i + j];  /* little-endian words */
        m[i] = w;
    }
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = b2_iv[i];
    }
    v[12] ^= t;  /* the byte counter's high word (v[13]) stays 0: ids are short */
    if (last)
        v[14] = ~v[14];
#define B2_G(a, b, c, d, x, y)                  \
    do {                                        \
        v[a] = v[a] + v[b] + (x);               \
        v[d] = rotr64(v[d] ^ v[a], 32);         \
        v[c] = v[c] + v[d];                     \
        v[b] = rotr64(v[b] ^ v[c], 24);         \
        v[a] = v[a] + v[b] + (y);               \
        v[d] = rotr64(v[d] ^ v[a], 16);         \
        v[c] = v[c] + v[d];                     \
        v[b] = rotr64(v[b] ^ v[c], 63);         \
    } while (0)
    for (int r = 0; r < 12; r++) {
        const uint8_t *s = b2_sigma[r % 10];
        B2_G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        B2_G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        B2_G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        B2_G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        B2_G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        B2_G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        B2_G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        B2_G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
#undef B2_G
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
}

/* BLAKE2b-64 (no key) of ``data``, its digest read as a big-endian integer. */
static uint64_t
blake2b64(const unsigned char *data, size_t n)
{
    uint64_t h[8];
    unsigned char block[128];
    memcpy(h, b2_iv, sizeof h);
    h[0] ^= 0x01010000ULL ^ 8;  /* fanout 1, depth 1, no key, 8-byte digest */
    uint64_t t = 0;
    while (n > 128) {
        t += 128;
        b2_compress(h, data, t, 0);
        data += 128;
        n -= 128;
    }
    memset(block, 0, sizeof block);
    memcpy(block, data, n);
    t += n;
    b2_compress(h, block, t, 1);
    uint64_t out = 0;
    for (int j = 0; j < 8; j++)  /* the digest's bytes are h[0] little-endian */
        out = (out << 8) | ((h[0] >> (8 * j)) & 0xff);
    return out;
}

#define MIN_TIME 946684800LL   /* 2000-01-01 */
#define MAX_TIME 4102444800LL  /* 2100-01-01 */

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ``<1-20 digits>_<9-10 digits>[_<1-32 of A-Za-z_>]``, the whole id: its seconds, or -1. */
static long long
timed_seconds(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_digit(s[i]))
        i++;
    if (i < 1 || i > 20 || i >= n || s[i] != '_')
        return -1;
    size_t a = ++i;
    while (i < n && is_digit(s[i]))
        i++;
    size_t digits = i - a;
    if (digits < 9 || digits > 10)
        return -1;
    if (i < n) {
        if (s[i] != '_')
            return -1;
        size_t tail = n - i - 1;
        if (tail < 1 || tail > 32)
            return -1;
        for (size_t k = i + 1; k < n; k++)
            if (!((s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z') || s[k] == '_'))
                return -1;
    }
    long long v = 0;
    for (size_t k = a; k < a + digits; k++)
        v = v * 10 + (s[k] - '0');
    return v;
}

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* A protobuf varint at data[*pos]; -1 when truncated or longer than the reference reads
 * (ten bytes); ``*big`` set when it does not fit 63 bits (no valid time then). */
static int
varint(const unsigned char *data, size_t n, size_t *pos, uint64_t *value, int *big)
{
    uint64_t v = 0;
    *big = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        uint64_t b = data[(*pos)++];
        uint64_t bits = b & 0x7f;
        if (bits && (shift > 56 || (bits >> (63 - shift)) != 0))
            *big = 1;
        else
            v |= bits << shift;
        if (!(b & 0x80)) {
            *value = v;
            return 0;
        }
    }
    return -1;
}

/* Field 2 of a WeCom base64 id (``CA…``: 08 <varint> 10 <varint seconds> …), or -1. */
static long long
protobuf_seconds(const unsigned char *s, size_t n)
{
    if (n < 2 || s[0] != 'C' || s[1] != 'A' || n > 64)
        return -1;
    size_t d = n;
    while (d > 0 && s[d - 1] == '=')
        d--;
    /* Padding as Python 3.11's strict decoder took it (msgkey._base64): 2 or 3 characters
     * past a whole quad need exactly 2 or 1 '=', a whole quad any number, 1 is an error. */
    size_t pads = (n - d) + (4 - n % 4) % 4, partial = d % 4;
    if (partial == 1 || (partial == 2 && pads != 2) || (partial == 3 && pads != 1))
        return -1;
    unsigned char data[48];
    size_t len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < d; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            data[len++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    size_t pos = 1;
    uint64_t field1, seconds;
    int big;
    if (len < 1 || data[0] != 0x08 || varint(data, len, &pos, &field1, &big) < 0)
        return -1;
    if (pos >= len || data[pos] != 0x10)
        return -1;
    pos++;
    if (varint(data, len, &pos, &seconds, &big) < 0 || big)
        return -1;
    return seconds > (uint64_t)MAX_TIME ? -1 : (long long)seconds;
}

PyDoc_STRVAR(dedupe_key_doc,
"dedupe_key(msgid) -> int\n\n"
"The archive's 63-bit dedupe key of a source message id: the same value as\n"
"wxguard.msgkey.dedupe_key.");

static PyObject *
dedupe_key(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "dedupe_key: a message id must be str");
        return NULL;
    }
    Py_ssize_t n;
    PyObject *encoded = NULL;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (s == NULL) {  /* lone surrogates: hashed as the reference does (surrogatepass) */
        PyErr_Clear();
        encoded = PyUnicode_AsEncodedString(arg, "utf-8", "surrogatepass");
        if (encoded == NULL)
            return NULL;
        s = PyBytes_AS_STRING(encoded);
        n = PyBytes_GET_SIZE(encoded);
    }
    const unsigned char *u = (const unsigned char *)s;
    uint64_t h = blake2b64(u, (size_t)n);
    int ascii = 1;
    for (Py_ssize_t i = 0; i < n && ascii; i++)
        ascii = u[i] < 0x80;
    long long seconds = -1;
    if (ascii) {
        seconds = timed_seconds(u, (size_t)n);
        if (seconds < 0)
            seconds = protobuf_seconds(u, (size_t)n);
    }
    Py_XDECREF(encoded);
    if (seconds < MIN_TIME || seconds >= MAX_TIME)
        return PyLong_FromUnsignedLongLong(h >> 1);
    return PyLong_FromUnsignedLongLong(((uint64_t)seconds << 30) | (h >> 34));
}

static PyMethodDef methods[] = {
    {"seal_messages", seal_messages, METH_VARARGS, seal_messages_doc},
    {"fingerprint", fingerprint, METH_VARARGS, fingerprint_doc},
    {"pack_commit", pack_commit, METH_VARARGS, pack_commit_doc},
    {"dedupe_key", dedupe_key, METH_O, dedupe_key_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wxguard._sealcore",
    "Native seal loop (optional; wxguard.seal falls back to Python).", -1, methods,
};

PyMODINIT_FUNC
PyInit__sealcore(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    if (sha256_md == NULL || gcm_cipher == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL lacks SHA-256 or AES-256-GCM");
        return NULL;
    }
    return PyModule_Create(&module);
}
