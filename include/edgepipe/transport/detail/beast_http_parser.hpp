// Beast's HTTP/1.1 parser, without one wrong assertion.
//
// Boost 1.81's basic_parser asserts `n >= 5` when it resumes a final chunk ("0\r\n") that
// arrived without its closing CRLF; 3 and 4 bytes are valid there, and the code after the
// assertion handles them (asking for more). A peer that sends a chunked body a byte at a
// time would abort any build with assertions on (boostorg/beast#2861, fixed in Boost 1.86;
// found by our fuzzers). So the parser is compiled here with Boost's assertions off:
// boost/assert.hpp re-reads BOOST_DISABLE_ASSERTS each time it is included. Include this
// header before anything else that includes Beast's HTTP parser in the same translation
// unit; the assertion is restored for the rest of it.
#pragma once

#include <boost/version.hpp>

#if BOOST_VERSION < 108600  // fixed in Boost 1.86
#ifndef BOOST_DISABLE_ASSERTS
#define EDGEPIPE_RESTORE_BOOST_ASSERTS
#define BOOST_DISABLE_ASSERTS
#include <boost/assert.hpp>
#endif
#endif

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#ifdef EDGEPIPE_RESTORE_BOOST_ASSERTS
#undef EDGEPIPE_RESTORE_BOOST_ASSERTS
#undef BOOST_DISABLE_ASSERTS
#include <boost/assert.hpp>
#endif
