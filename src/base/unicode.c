/*
 * unicode.c - UTF-8 coding, general categories, case mapping, NFD and the
 * GPT-2 byte mapping, over the generated tables of unicode_data.c.
 */
#include "base/unicode.h"

#include "base/unicode_data.h"

/* ---- UTF-8 ---- */

size_t utf8_seq_len(uint8_t lead)
{
    if (lead >= 0xC2 && lead <= 0xDF)
        return 2;
    if (lead >= 0xE0 && lead <= 0xEF)
        return 3;
    if (lead >= 0xF0 && lead <= 0xF4)
        return 4;
    return 1;
}

static bool is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

/* The allowed range of the second byte of a sequence (rejects overlong forms,
 * surrogates and code points above U+10FFFF), as in RFC 3629's grammar. */
static void second_byte_range(uint8_t lead, uint8_t *lo, uint8_t *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead == 0xE0)
        *lo = 0xA0;
    else if (lead == 0xED)
        *hi = 0x9F;
    else if (lead == 0xF0)
        *lo = 0x90;
    else if (lead == 0xF4)
        *hi = 0x8F;
}

/* The code point of the need-byte sequence at u whose lead byte (and, from
 * index first on, continuation bytes) are still to be checked: U+FFFD (*n
 * left as it is) if one is not a continuation byte. */
static uint32_t assemble(const uint8_t *u, size_t need, size_t first, size_t *n)
{
    for (size_t i = first; i < need; i++)
        if (!is_cont(u[i]))
            return UNICODE_REPLACEMENT;
    uint32_t cp = u[0] & (0x7F >> need);
    for (size_t i = 1; i < need; i++)
        cp = (cp << 6) | (u[i] & 0x3F);
    *n = need;
    return cp;
}

uint32_t utf8_decode(const char *s, size_t len, size_t *n)
{
    const uint8_t *u = (const uint8_t *)s;
    *n = len > 0 ? 1 : 0;
    if (len == 0)
        return UNICODE_REPLACEMENT;
    if (u[0] < 0x80)
        return u[0];
    size_t need = utf8_seq_len(u[0]);
    if (need == 1 || len < need)
        return UNICODE_REPLACEMENT;
    uint8_t lo, hi;
    second_byte_range(u[0], &lo, &hi);
    if (u[1] < lo || u[1] > hi)
        return UNICODE_REPLACEMENT;
    return assemble(u, need, 2, n);
}

size_t utf8_encode_lenient(uint32_t cp, char out[4])
{
    if (cp > 0x10FFFF)
        cp = UNICODE_REPLACEMENT;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = UNICODE_REPLACEMENT;
    return utf8_encode_lenient(cp, out);
}

uint32_t utf8_decode_lenient(const char *s, size_t len, size_t *n)
{
    const uint8_t *u = (const uint8_t *)s;
    *n = len > 0 ? 1 : 0;
    if (len == 0)
        return UNICODE_REPLACEMENT;
    if (u[0] < 0x80)
        return u[0];
    size_t need = (u[0] & 0x40) == 0 ? 0 : (u[0] & 0x20) == 0 ? 2 : (u[0] & 0x10) == 0 ? 3 : (u[0] & 0x08) == 0 ? 4 : 0;
    if (need == 0 || need > len)
        return UNICODE_REPLACEMENT;
    return assemble(u, need, 1, n);
}

size_t utf8_lead_len(uint8_t lead)
{
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

size_t utf8_offset(const char *s, size_t len, size_t index)
{
    for (size_t i = 0, k = 0; i < len; i++)
        if (!is_cont((uint8_t)s[i]) && k++ == index)
            return i;
    return len;
}

int unicode_hex_value(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* ---- categories ---- */

static unsigned category_byte(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return 0; /* Cn */
    size_t block = unicode_cat_stage1[cp >> UNICODE_CAT_SHIFT];
    return unicode_cat_stage2[(block << UNICODE_CAT_SHIFT) + (cp & ((1u << UNICODE_CAT_SHIFT) - 1))];
}

unsigned unicode_flags(uint32_t cp)
{
    return unicode_cat_flags[category_byte(cp)];
}

const char *unicode_category_name(uint32_t cp)
{
    return unicode_cat_names[category_byte(cp) & 0x1F];
}

const char *unicode_version(void)
{
    return unicode_data_version;
}

/* ---- case mapping ---- */

/* Index of cp in the sorted keys[0..n), or -1. */
static long find_sorted(const uint32_t *keys, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && keys[lo] == cp ? (long)lo : -1;
}

uint32_t unicode_tolower(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    long i = find_sorted(unicode_lower_from, unicode_lower_count, cp);
    return i < 0 ? cp : unicode_lower_to[i];
}

uint32_t unicode_toupper(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    long i = find_sorted(unicode_upper_from, unicode_upper_count, cp);
    return i < 0 ? cp : unicode_upper_to[i];
}

/* ---- NFD ---- */

enum {
    HANGUL_S_BASE = 0xAC00,
    HANGUL_L_BASE = 0x1100,
    HANGUL_V_BASE = 0x1161,
    HANGUL_T_BASE = 0x11A7,
    HANGUL_V_COUNT = 21,
    HANGUL_T_COUNT = 28,
    HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT,
    HANGUL_S_COUNT = 19 * HANGUL_N_COUNT
};

static size_t hangul_nfd(uint32_t cp, uint32_t out[8])
{
    uint32_t s = cp - HANGUL_S_BASE;
    out[0] = HANGUL_L_BASE + s / HANGUL_N_COUNT;
    out[1] = HANGUL_V_BASE + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT;
    uint32_t t = s % HANGUL_T_COUNT;
    if (t == 0)
        return 2;
    out[2] = HANGUL_T_BASE + t;
    return 3;
}

size_t unicode_nfd(uint32_t cp, uint32_t out[8])
{
    if (cp >= HANGUL_S_BASE && cp < HANGUL_S_BASE + HANGUL_S_COUNT)
        return hangul_nfd(cp, out);
    long i = cp < 0xC0 ? -1 : find_sorted(unicode_nfd_from, unicode_nfd_count, cp);
    if (i < 0) {
        out[0] = cp;
        return 1;
    }
    size_t n = unicode_nfd_length[i];
    const uint32_t *src = unicode_nfd_pool + unicode_nfd_offset[i];
    for (size_t k = 0; k < n; k++)
        out[k] = src[k];
    return n;
}

/* ---- GPT-2 byte mapping ----
 * Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) map to themselves; the 68
 * others, in increasing order (0x00..0x20, 0x7F..0xA0, 0xAD), to U+0100.. */

static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

uint32_t unicode_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 0x20)
        return 0x100 + b;
    if (b <= 0xA0)
        return 0x100 + 0x21 + (b - 0x7F);
    return 0x100 + 0x43; /* 0xAD */
}

int unicode_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 0x44)
        return -1;
    uint32_t k = cp - 0x100;
    if (k <= 0x20)
        return (int)k;
    if (k < 0x43)
        return (int)(0x7F + (k - 0x21));
    return 0xAD;
}

size_t utf8_decode_strict(const char *s, size_t len, uint32_t *cp)
{
    size_t n;
    uint32_t c = utf8_decode(s, len, &n);
    if (len == 0 || (c == UNICODE_REPLACEMENT && n == 1 && (uint8_t)s[0] >= 0x80))
        return 0;
    *cp = c;
    return n;
}

size_t utf8_count(const char *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        k += ((uint8_t)s[i] & 0xC0) != 0x80;
    return k;
}
