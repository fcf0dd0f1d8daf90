/*
 * main.c - an empty program linked with the whole of one layer's library
 * and only the libraries that layer may use (CMakeLists.txt, "layer
 * checks"). A call from a layer into one above it, or into jansson or
 * libmicrohttpd where the layer may not use them, is an undefined
 * reference, and the build fails.
 */
int main(void) { return 0; }
