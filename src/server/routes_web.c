/*
 * routes_web.c - static files: the embedded web front end (see web.h) and
 * the directory of --path.
 *
 * Embedded files go out gzip-compressed to clients that accept it, with a
 * strong ETag (If-None-Match -> 304), Cache-Control: no-cache (the browser
 * revalidates, cheaply) and, for the page itself, a strict
 * Content-Security-Policy: scripts, styles, fonts and requests only from
 * this server, no inline script, no plugins, no framing. Files of --path are
 * the user's own: they are sent as they are, without that policy (the
 * seed's example page is an inline module script).
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/sbuf.h"
#include "server/http.h"
#include "server/server_internal.h"
#include "server/server_params.h"
#include "server/web.h"

#define WEB_MAX_FILE (64u << 20) /* largest --path file served */

static const char CSP[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";

/* ------------------------------------------------------------ lookup */

static int asset_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct web_asset *)elem)->path);
}

const struct web_asset *web_asset_find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    return bsearch(path, web_assets, web_n_assets, sizeof web_assets[0], asset_cmp);
}

static const char *mime_type(const char *path)
{
    static const struct { const char *ext, *type; } T[] = {
        {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"}, {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"}, {".md", "text/markdown; charset=utf-8"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".webp", "image/webp"},
        {".ico", "image/x-icon"}, {".woff2", "font/woff2"}, {".woff", "font/woff"},
        {".wasm", "application/wasm"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    for (size_t i = 0; dot && i < sizeof T / sizeof T[0]; i++)
        if (strcasecmp(dot, T[i].ext) == 0)
            return T[i].type;
    return "application/octet-stream";
}

/* ------------------------------------------------------------ checks */

/* A path no static file may have: not absolute, a "." or ".." segment or a
 * dot-file, a backslash, or (in the request as sent) a percent-encoded
 * slash, backslash or NUL. */
static bool path_refused(const char *path, const char *raw)
{
    if (path[0] != '/' || strchr(path, '\\'))
        return true;
    for (const char *seg = path; seg; seg = strchr(seg + 1, '/'))
        if (seg[1] == '.')
            return true;
    if (raw) {
        size_t n = strcspn(raw, "?#");
        for (size_t i = 0; i + 2 < n; i++) {
            if (raw[i] != '%')
                continue;
            char h[3] = {raw[i + 1], raw[i + 2], 0};
            if (strcasecmp(h, "2f") == 0 || strcasecmp(h, "5c") == 0 || strcmp(h, "00") == 0)
                return true;
        }
    }
    return false;
}

/* Does If-None-Match (a list of ETags, or "*") name etag? */
static bool etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        p += strspn(p, " \t,");
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 1 && *p == '*') || (n == el && strncmp(p, etag, el) == 0))
            return true;
        p += n;
        p += strcspn(p, ",");
    }
    return false;
}

static bool accepts_gzip(const struct http_request *req)
{
    const char *ae = http_header(req, "Accept-Encoding");
    if (!ae)
        return false;
    for (const char *p = strcasestr(ae, "gzip"); p; p = strcasestr(p + 4, "gzip")) {
        const char *q = p + 4;
        q += strspn(q, " \t");
        if (*q != ';')
            return true;
        q += 1 + strspn(q + 1, " \t");
        if (strncasecmp(q, "q=0", 3) != 0 || strspn(q + 3, ".0") != strcspn(q + 3, ","))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ replies */

/* status, content type, a copy of body and the extra headers. Out of memory:
 * a 500 with no body. */
static void reply(struct http_reply *rep, int status, const char *ctype, const void *body, size_t len,
                  struct sbuf *headers)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        sbuf_free(headers);
        rep->status = 500;
        return;
    }
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    rep->status = status;
    rep->content_type = ctype;
    rep->body = copy;
    rep->len = len;
    rep->headers = headers->len ? sbuf_take(headers, NULL) : NULL;
    sbuf_free(headers);
}

static void serve_asset(const struct web_asset *a, const struct http_request *req, struct http_reply *rep)
{
    bool gz = accepts_gzip(req);
    char etag[96];
    size_t el = strlen(a->etag);
    if (gz && el >= 2 && el + 4 < sizeof etag)
        snprintf(etag, sizeof etag, "%.*s-gz\"", (int)(el - 1), a->etag);
    else
        snprintf(etag, sizeof etag, "%s", a->etag);
    struct sbuf h = {0};
    sbuf_printf(&h, "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"
                    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n", etag);
    if (strncmp(a->content_type, "text/html", 9) == 0)
        sbuf_puts(&h, CSP);
    if (etag_matches(http_header(req, "If-None-Match"), etag)) {
        reply(rep, 304, a->content_type, "", 0, &h);
        return;
    }
    if (gz)
        sbuf_puts(&h, "Content-Encoding: gzip\r\n");
    reply(rep, 200, a->content_type, gz ? a->gz : a->raw, gz ? a->gz_len : a->raw_len, &h);
}

/* The file of root for path (a directory: its index.html), resolved with
 * every symlink and still inside root; false if there is none. */
static bool resolve_in(const char *root, const char *path, char *real, struct stat *st)
{
    char want[PATH_MAX];
    size_t rl = strlen(root);
    for (int pass = 0; pass < 2; pass++) {
        int wl = snprintf(want, sizeof want, "%s%s%s", root, pass == 0 ? path : real + rl,
                          pass == 1 ? "/index.html" : "");
        if (wl < 0 || (size_t)wl >= sizeof want || !realpath(want, real))
            return false;
        if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0'))
            return false; /* a symlink out of root */
        if (stat(real, st) != 0)
            return false;
        if (S_ISREG(st->st_mode))
            return true;
        if (!S_ISDIR(st->st_mode))
            return false;
    }
    return false;
}

/* A file of --path: true if served (or answered 304). */
static bool serve_dir_file(const char *dir, const struct http_request *req, struct http_reply *rep)
{
    char root[PATH_MAX], real[PATH_MAX];
    struct stat st;
    if (!realpath(dir, root) || !resolve_in(root, req->path, real, &st))
        return false;
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
    struct sbuf h = {0};
    sbuf_printf(&h, "ETag: %s\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n", etag);
    const char *ctype = mime_type(real);
    if (etag_matches(http_header(req, "If-None-Match"), etag)) {
        reply(rep, 304, ctype, "", 0, &h);
        return true;
    }
    char err[256];
    size_t len = 0;
    char *buf = file_read(real, WEB_MAX_FILE, &len, err, sizeof err);
    if (!buf) {
        sbuf_free(&h);
        return false;
    }
    rep->status = 200;
    rep->content_type = ctype;
    rep->body = buf;
    rep->len = len;
    rep->headers = h.len ? sbuf_take(&h, NULL) : NULL;
    sbuf_free(&h);
    return true;
}

bool web_route(const struct server_params *p, const struct http_request *req, struct http_reply *rep)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return false;
    const struct web_asset *a = web_asset_find(req->path);
    bool embedded = a && (p->webui || strcmp(a->path, "/completion.js") == 0);
    if (!p->static_path && !embedded)
        return false; /* an API route, or its 404 */
    if (path_refused(req->path, req->raw_url)) {
        srv_reply_error(rep, 404, "File Not Found: %s", req->path);
        return true;
    }
    if (p->static_path && serve_dir_file(p->static_path, req, rep))
        return true;
    if (!embedded)
        return false;
    serve_asset(a, req, rep);
    return true;
}
