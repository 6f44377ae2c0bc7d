// Beast's HTTP/1.1 parser, without one wrong assertion.
//
// Boost 1.81's basic_parser asserts `n >= 5` when it resumes a final chunk ("0\r\n") that
// arrived without its closing CRLF; 3 and 4 bytes are valid there, and the code after the
// assertion handles them (asking for more). A peer that sends a chunked body a byte at a
// time would abort any build with assertions on (boostorg/beast#2861, fixed in Boost 1.86;
// found by our fuzzers). So basic_parser alone is compiled with Boost's assertions off:
// everything it includes is included first, with them on, and they are back on before
// the rest of Beast's HTTP parser. boost/assert.hpp re-reads BOOST_DISABLE_ASSERTS each
// time it is included. Beast's parser is compiled once per translation unit, so this
// header must come before any other include of it: a translation unit that includes it
// too late does not compile.
#pragma once

#include <boost/version.hpp>

#if BOOST_VERSION < 108600  // fixed in Boost 1.86
#if defined(BOOST_BEAST_HTTP_BASIC_PARSER_HPP) && !defined(BOOST_DISABLE_ASSERTS)
#error "Beast's HTTP parser was included before <edgepipe/transport/detail/beast_http_parser.hpp>: include that (or the edgepipe header that needs Beast) first, so the parser is compiled without its wrong assertion"
#endif

// What basic_parser includes, compiled with assertions as the translation unit has them.
#include <boost/asio/buffer.hpp>
#include <boost/assert.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/detail/clamp.hpp>
#include <boost/beast/core/detail/config.hpp>
#include <boost/beast/core/detail/string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/detail/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/make_unique.hpp>
#include <boost/optional.hpp>

#ifndef BOOST_DISABLE_ASSERTS
#define EDGEPIPE_RESTORE_BOOST_ASSERTS
#define BOOST_DISABLE_ASSERTS
#include <boost/assert.hpp>
#endif
#include <boost/beast/http/basic_parser.hpp>
#ifdef EDGEPIPE_RESTORE_BOOST_ASSERTS
#undef EDGEPIPE_RESTORE_BOOST_ASSERTS
#undef BOOST_DISABLE_ASSERTS
#include <boost/assert.hpp>
#endif
#endif

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
