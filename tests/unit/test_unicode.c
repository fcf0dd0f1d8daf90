/*
 * test_unicode.c - base/unicode.h:
 *   - UTF-8 decoding of 1-4 byte sequences, and of invalid input (stray
 *     continuation bytes, overlong forms, surrogates, > U+10FFFF, bad leads,
 *     truncated sequences): U+FFFD consuming exactly 1 byte;
 *   - encode/decode round trip of every scalar value; surrogates encode as
 *     U+FFFD; utf8_seq_len of every lead byte;
 *   - general-category flags and names of sample code points; the whitespace
 *     flag is set for exactly the 25 White_Space code points (regex \s, and
 *     llama.cpp's whitespace);
 *   - simple lower/upper case mappings;
 *   - NFD of precomposed letters, multi-level decompositions, singletons,
 *     Hangul syllables, and code points without decomposition;
 *   - the GPT-2 byte <-> code point mapping: a bijection of the 256 bytes,
 *     printable bytes mapping to themselves, known values (space -> U+0120).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/unicode.h"

static uint32_t decode1(const char *s, size_t len, size_t *n)
{
    return utf8_decode(s, len, n);
}

static void test_decode_valid(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(decode1("A", 1, &n), 'A');
    assert_int_equal(n, 1);
    assert_int_equal(decode1("\xc3\xa9", 2, &n), 0xE9);
    assert_int_equal(n, 2);
    assert_int_equal(decode1("\xe4\xb8\x80", 3, &n), 0x4E00);
    assert_int_equal(n, 3);
    assert_int_equal(decode1("\xf0\x9f\xa6\x99", 4, &n), 0x1F999);
    assert_int_equal(n, 4);
    assert_int_equal(decode1("\xf4\x8f\xbf\xbf", 4, &n), 0x10FFFF);
    assert_int_equal(n, 4);
    assert_int_equal(decode1("\xef\xbf\xbd", 3, &n), 0xFFFD);
    assert_int_equal(n, 3);
    assert_int_equal(decode1("\0", 1, &n), 0);
    assert_int_equal(n, 1);
    decode1("", 0, &n);
    assert_int_equal(n, 0);
}

static void assert_invalid(const char *s, size_t len)
{
    size_t n = 99;
    assert_int_equal(utf8_decode(s, len, &n), UNICODE_REPLACEMENT);
    assert_int_equal(n, 1);
}

static void test_decode_invalid(void **state)
{
    (void)state;
    assert_invalid("\x80", 1);             /* stray continuation */
    assert_invalid("\xbf\x80", 2);
    assert_invalid("\xc0\x80", 2);         /* overlong NUL */
    assert_invalid("\xc1\xbf", 2);         /* overlong 0x7F */
    assert_invalid("\xe0\x80\x80", 3);     /* overlong 3-byte */
    assert_invalid("\xe0\x9f\xbf", 3);     /* overlong U+07FF */
    assert_invalid("\xf0\x80\x80\x80", 4); /* overlong 4-byte */
    assert_invalid("\xf0\x8f\xbf\xbf", 4); /* overlong U+FFFF */
    assert_invalid("\xed\xa0\x80", 3);     /* U+D800 */
    assert_invalid("\xed\xbf\xbf", 3);     /* U+DFFF */
    assert_invalid("\xf4\x90\x80\x80", 4); /* U+110000 */
    assert_invalid("\xf5\x80\x80\x80", 4);
    assert_invalid("\xff", 1);
    assert_invalid("\xfe\x80", 2);
    assert_invalid("\xc3", 1);             /* truncated */
    assert_invalid("\xe4\xb8", 2);
    assert_invalid("\xf0\x9f\xa6", 3);
    assert_invalid("\xc3\x41", 2);         /* continuation missing */
    assert_invalid("\xe4\xb8\x41", 3);
    assert_invalid("\xf0\x9f\xa6\x41", 4);

    /* Decoding a stream resynchronizes on the next byte. */
    const char *s = "a\xe4\xb8z\xc3\xa9";
    size_t len = strlen(s), pos = 0, n;
    uint32_t expect[] = {'a', 0xFFFD, 0xFFFD, 'z', 0xE9};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(utf8_decode(s + pos, len - pos, &n), expect[i]);
        pos += n;
    }
    assert_int_equal(pos, len);
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    char buf[4];
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        size_t len = utf8_encode(cp, buf), n;
        size_t expect = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (len != expect || utf8_seq_len((uint8_t)buf[0]) != len ||
            utf8_decode(buf, len, &n) != cp || n != len)
            fail_msg("round trip of U+%04X", cp);
    }
    assert_int_equal(utf8_encode(0xD800, buf), 3);
    assert_memory_equal(buf, "\xef\xbf\xbd", 3);
    assert_int_equal(utf8_encode(0x110000, buf), 3);
    assert_memory_equal(buf, "\xef\xbf\xbd", 3);
}

static void test_seq_len(void **state)
{
    (void)state;
    for (unsigned b = 0; b < 256; b++) {
        size_t expect = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3
                      : b >= 0xF0 && b <= 0xF4 ? 4 : 1;
        assert_int_equal(utf8_seq_len((uint8_t)b), expect);
    }
}

struct cat_case {
    uint32_t cp;
    unsigned flags;
    const char *name;
};

static void test_categories(void **state)
{
    (void)state;
    static const struct cat_case cases[] = {
        {'A', UCAT_LETTER | UCAT_UPPER, "Lu"},
        {'z', UCAT_LETTER | UCAT_LOWER, "Ll"},
        {'0', UCAT_NUMBER | UCAT_NUMBER_DECIMAL, "Nd"},
        {'!', UCAT_PUNCT, "Po"},
        {'_', UCAT_PUNCT, "Pc"},
        {'$', UCAT_SYMBOL, "Sc"},
        {'+', UCAT_SYMBOL, "Sm"},
        {'`', UCAT_SYMBOL, "Sk"},
        {' ', UCAT_SEPARATOR | UCAT_WHITESPACE, "Zs"},
        {'\t', UCAT_OTHER | UCAT_WHITESPACE, "Cc"},
        {'\n', UCAT_OTHER | UCAT_WHITESPACE, "Cc"},
        {0x00, UCAT_OTHER, "Cc"},
        {0x1C, UCAT_OTHER, "Cc"}, /* not White_Space */
        {0x85, UCAT_OTHER | UCAT_WHITESPACE, "Cc"},
        {0xA0, UCAT_SEPARATOR | UCAT_WHITESPACE, "Zs"},
        {0xAD, UCAT_OTHER, "Cf"},
        {0xB2, UCAT_NUMBER, "No"},
        {0xB5, UCAT_LETTER | UCAT_LOWER, "Ll"},
        {0xC0, UCAT_LETTER | UCAT_UPPER, "Lu"},
        {0x1C5, UCAT_LETTER | UCAT_TITLE, "Lt"},
        {0x2B0, UCAT_LETTER, "Lm"},
        {0x301, UCAT_MARK | UCAT_MARK_NONSPACING, "Mn"},
        {0x378, UCAT_OTHER, "Cn"},
        {0x660, UCAT_NUMBER | UCAT_NUMBER_DECIMAL, "Nd"},
        {0x903, UCAT_MARK, "Mc"},
        {0x964, UCAT_PUNCT, "Po"},
        {0x1680, UCAT_SEPARATOR | UCAT_WHITESPACE, "Zs"},
        {0x180E, UCAT_OTHER, "Cf"}, /* no longer White_Space */
        {0x200B, UCAT_OTHER, "Cf"},
        {0x2028, UCAT_SEPARATOR | UCAT_WHITESPACE, "Zl"},
        {0x2029, UCAT_SEPARATOR | UCAT_WHITESPACE, "Zp"},
        {0x20DD, UCAT_MARK, "Me"},
        {0x2160, UCAT_NUMBER, "Nl"},
        {0x3000, UCAT_SEPARATOR | UCAT_WHITESPACE, "Zs"},
        {0x3042, UCAT_LETTER, "Lo"},
        {0x4E00, UCAT_LETTER, "Lo"},
        {0x9FFF, UCAT_LETTER, "Lo"},
        {0xAC00, UCAT_LETTER, "Lo"},
        {0xD800, UCAT_OTHER, "Cs"},
        {0xE000, UCAT_OTHER, "Co"},
        {0xFF01, UCAT_PUNCT, "Po"},
        {0xFFFD, UCAT_SYMBOL, "So"},
        {0x1F600, UCAT_SYMBOL, "So"},
        {0x20000, UCAT_LETTER, "Lo"},
        {0x31350, UCAT_LETTER, "Lo"},   /* CJK Ext. H, Unicode 15.0 */
        {0xE0001, UCAT_OTHER, "Cf"},
        {0x10FFFD, UCAT_OTHER, "Co"},
        {0x10FFFF, UCAT_OTHER, "Cn"},
        {0x110000, UCAT_OTHER, "Cn"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (unicode_flags(cases[i].cp) != cases[i].flags ||
            strcmp(unicode_category_name(cases[i].cp), cases[i].name) != 0)
            fail_msg("U+%04X: flags 0x%x (%s), expected 0x%x (%s)", cases[i].cp,
                     unicode_flags(cases[i].cp), unicode_category_name(cases[i].cp),
                     cases[i].flags, cases[i].name);
    }
    assert_true(strlen(unicode_version()) >= 4);
}

static void test_whitespace_set(void **state)
{
    (void)state;
    static const uint32_t ws[] = {0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680,
                                  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
                                  0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F,
                                  0x205F, 0x3000};
    size_t k = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (!(unicode_flags(cp) & UCAT_WHITESPACE))
            continue;
        if (k >= 25 || ws[k] != cp)
            fail_msg("unexpected whitespace U+%04X", cp);
        k++;
    }
    assert_int_equal(k, 25);
}

static void test_case_mapping(void **state)
{
    (void)state;
    static const uint32_t lower[][2] = {
        {'A', 'a'}, {'Z', 'z'}, {'a', 'a'}, {'1', '1'}, {0xC0, 0xE0}, {0xDE, 0xFE},
        {0x130, 'i'}, {0x178, 0xFF}, {0x1C4, 0x1C6}, {0x1C5, 0x1C6}, {0x3A3, 0x3C3},
        {0x410, 0x430}, {0x1E9E, 0xDF}, {0x2126, 0x3C9}, {0x212A, 'k'}, {0xFF21, 0xFF41},
        {0x10400, 0x10428}, {0x4E00, 0x4E00}, {0x10FFFF, 0x10FFFF},
    };
    static const uint32_t upper[][2] = {
        {'a', 'A'}, {'A', 'A'}, {0xE0, 0xC0}, {0xFF, 0x178}, {0xDF, 0xDF}, {0xB5, 0x39C},
        {0x17F, 'S'}, {0x1C6, 0x1C4}, {0x1C5, 0x1C4}, {0x3C2, 0x3A3}, {0x430, 0x410},
        {0xFF41, 0xFF21}, {'!', '!'},
    };
    for (size_t i = 0; i < sizeof lower / sizeof lower[0]; i++)
        if (unicode_tolower(lower[i][0]) != lower[i][1])
            fail_msg("tolower(U+%04X) = U+%04X", lower[i][0], unicode_tolower(lower[i][0]));
    for (size_t i = 0; i < sizeof upper / sizeof upper[0]; i++)
        if (unicode_toupper(upper[i][0]) != upper[i][1])
            fail_msg("toupper(U+%04X) = U+%04X", upper[i][0], unicode_toupper(upper[i][0]));
}

struct nfd_case {
    uint32_t cp;
    size_t n;
    uint32_t out[4];
};

static void test_nfd(void **state)
{
    (void)state;
    static const struct nfd_case cases[] = {
        {'a', 1, {'a'}},
        {0xC0, 2, {'A', 0x300}},
        {0xE9, 2, {'e', 0x301}},
        {0xF1, 2, {'n', 0x303}},
        {0x1E09, 3, {'c', 0x327, 0x301}},          /* via U+00E7 */
        {0x1F82, 4, {0x3B1, 0x313, 0x300, 0x345}}, /* three levels */
        {0x212B, 2, {'A', 0x30A}},                 /* singleton then Å */
        {0x2126, 1, {0x3A9}},                      /* singleton */
        {0x1FBE, 1, {0x3B9}},
        {0x95C, 2, {0x921, 0x93C}},
        {0xFB01, 1, {0xFB01}},                     /* compatibility only */
        {0xAC00, 2, {0x1100, 0x1161}},
        {0xAC01, 3, {0x1100, 0x1161, 0x11A8}},
        {0xD7A3, 3, {0x1112, 0x1175, 0x11C2}},
        {0xD7A4, 1, {0xD7A4}},
        {0x4E00, 1, {0x4E00}},
        {0x1D15E, 2, {0x1D157, 0x1D165}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t out[8];
        size_t n = unicode_nfd(cases[i].cp, out);
        if (n != cases[i].n || memcmp(out, cases[i].out, n * sizeof out[0]) != 0)
            fail_msg("NFD of U+%04X", cases[i].cp);
    }
    /* Stripping marks after NFD: every decomposition of a Latin-1 letter is
     * the base letter and at most one combining mark. */
    for (uint32_t cp = 0xC0; cp <= 0xFF; cp++) {
        uint32_t out[8];
        size_t n = unicode_nfd(cp, out);
        assert_true(n <= 2);
        if (n == 2)
            assert_true(unicode_flags(out[1]) & UCAT_MARK_NONSPACING);
    }
}

static void test_byte_mapping(void **state)
{
    (void)state;
    uint8_t seen[0x200] = {0};
    for (unsigned b = 0; b < 256; b++) {
        uint32_t cp = unicode_byte_to_cp((uint8_t)b);
        assert_true(cp < 0x200);
        assert_int_equal(seen[cp], 0);
        seen[cp] = 1;
        assert_int_equal(unicode_cp_to_byte(cp), (int)b);
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (printable)
            assert_int_equal(cp, b);
        else
            assert_true(cp >= 0x100 && cp < 0x144);
        /* the mapped code points are all printable: letters, numbers,
         * punctuation or symbols */
        assert_true(unicode_flags(cp) & (UCAT_LETTER | UCAT_NUMBER | UCAT_PUNCT | UCAT_SYMBOL));
    }
    assert_int_equal(unicode_byte_to_cp(' '), 0x120);  /* 'Ġ' */
    assert_int_equal(unicode_byte_to_cp('\n'), 0x10A); /* 'Ċ' */
    assert_int_equal(unicode_byte_to_cp(0x00), 0x100);
    assert_int_equal(unicode_byte_to_cp(0x7F), 0x121);
    assert_int_equal(unicode_byte_to_cp(0xA0), 0x142);
    assert_int_equal(unicode_byte_to_cp(0xAD), 0x143);
    assert_int_equal(unicode_cp_to_byte(' '), -1);
    assert_int_equal(unicode_cp_to_byte(0xAD), -1);
    assert_int_equal(unicode_cp_to_byte(0x144), -1);
    assert_int_equal(unicode_cp_to_byte(0x4E00), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_invalid),
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_seq_len),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_whitespace_set),
        cmocka_unit_test(test_case_mapping),
        cmocka_unit_test(test_nfd),
        cmocka_unit_test(test_byte_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
