/*
 * web.h - the web front end: the chat page, /completion.js and the browser
 * libraries they use, embedded in the binary at build time
 * (scripts/embed-web.py writes web_assets.c into the build directory), and
 * the static files of --path DIR.
 *
 * Ownership: the assets are constant data; web_route() copies what it sends
 * into the reply. Threading: web_route() keeps no state and may run on any
 * HTTP thread at once.
 */
#ifndef CLLM_SERVER_WEB_H
#define CLLM_SERVER_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct http_request;
struct http_reply;
struct server_params;

/* One embedded file (web_assets.c: sorted by path). */
struct web_asset {
    const char *path;          /* URL path, "/index.html" */
    const char *content_type;
    const char *etag;          /* quoted strong ETag of raw (the gzip form adds "-gz") */
    const unsigned char *raw;
    size_t raw_len;
    const unsigned char *gz;   /* the same bytes gzip-compressed */
    size_t gz_len;
};

extern const struct web_asset web_assets[];
extern const size_t web_n_assets;

/* The embedded asset at path ("/" is "/index.html"), or NULL. */
const struct web_asset *web_asset_find(const char *path);

/* Answer a GET or HEAD for a static file: a file of --path DIR first (when
 * set), then the embedded page (unless --no-webui; /completion.js is served
 * even then). Paths with "..", dot-files, backslashes or percent-encoded
 * slashes get 404; a symlink inside DIR that leads out of it gives 404.
 * Returns false (rep untouched) when the request is not for a static file,
 * so that the API routes can take it. */
bool web_route(const struct server_params *p, const struct http_request *req, struct http_reply *rep);

#endif
