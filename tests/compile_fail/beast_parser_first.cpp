// A translation unit that includes Beast's HTTP parser before edgepipe's workaround for its
// wrong assertion would get the parser with that assertion: it must not compile.
// expect-error: Beast's HTTP parser was included before <edgepipe/transport/detail/beast_http_parser.hpp>
#ifdef EDGEPIPE_BREAK
#include <boost/beast/http/parser.hpp>
#endif
#include <edgepipe/transport/detail/beast_http_parser.hpp>

int main() {}
