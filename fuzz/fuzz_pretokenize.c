/*
 * fuzz_pretokenize.c - libFuzzer target: arbitrary bytes (invalid UTF-8
 * included) through every pre-tokenizer kind and the UTF-8 decoder. Must
 * never crash or over-read, and the pieces must cover the input exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/pretokenize.h"
#include "base/unicode.h"

static void check_cover(const struct pretok_list *list, size_t len)
{
    uint32_t pos = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (list->v[i].off != pos || list->v[i].len == 0)
            abort();
        pos += list->v[i].len;
    }
    if (pos != len)
        abort();
}

static void check_decoder(const char *s, size_t len)
{
    for (size_t pos = 0; pos < len;) {
        size_t n;
        uint32_t cp = utf8_decode(s + pos, len - pos, &n);
        if (n == 0 || n > len - pos || cp > 0x10FFFF)
            abort();
        char buf[4];
        if (n > 1 && (utf8_encode(cp, buf) != n))
            abort();
        pos += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    check_decoder(text, size);
    for (int k = 0; k < PRETOK_KIND_COUNT; k++) {
        struct pretok_list list = {0};
        if (pretokenize((enum pretok_kind)k, text, size, &list) == 0)
            check_cover(&list, size);
        pretok_list_free(&list);
    }
    return 0;
}
