// The status-to-wire table: how a response is written in each wire format. Headers,
// message framing and compression, and the ending — Connect's HTTP status and JSON
// error, the end-of-stream frame, gRPC trailers or Trailers-Only, gRPC-Web's trailers
// frame, base64 for gRPC-Web text — with retry hints and error details. The one place
// that knows; what carries the bytes (an HTTP/2 stream, an HTTP/1.1 response, a test)
// is any `response_output`.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/connect.hpp>
#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/protocol/error_detail.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/grpc.hpp>
#include <edgepipe/protocol/grpc_web.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/metadata.hpp>
#include <edgepipe/protocol/wire_format.hpp>
#include <edgepipe/status.hpp>

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::protocol {

// Where a response goes: its status line and headers (end_stream: nothing follows, the
// gRPC Trailers-Only form), body bytes, and its end with HTTP trailers or none.
template <class Out>
concept response_output = requires(Out& out, metadata headers, std::string_view bytes, metadata const* trailers) {
  out.start_response(200, std::move(headers), true);
  out.append_body(bytes);
  out.end_response(trailers);
};

class response_writer {
 public:
  // `encoding`: the compression chosen for the response ("" none); messages shorter
  // than `compress_min_bytes` go uncompressed even then.
  response_writer(content_type_info type, std::string_view encoding, std::size_t compress_min_bytes)
      : type_{type}, format_{wire_format_of(type)}, encoding_{encoding}, compress_min_bytes_{compress_min_bytes} {}

  [[nodiscard]] wire_format format() const noexcept { return format_; }
  [[nodiscard]] bool headers_sent() const noexcept { return headers_sent_; }

  // The headers of a framed response, once, before its first message. A Connect unary
  // response sends them with its status, at the end.
  template <response_output Out>
  void send_headers(Out& out, metadata const& extra) {
    if (headers_sent_ || format_ == wire_format::connect_unary) return;
    headers_sent_ = true;
    out.start_response(200, headers(true, extra), false);
  }

  // One response message. A Connect unary message waits for the status.
  template <response_output Out>
  status send_message(Out& out, std::string_view message, metadata const& extra) {
    if (format_ == wire_format::connect_unary) {
      unary_message_.assign(message);
      return {};
    }
    send_headers(out, extra);
    scratch_.clear();
    if (compresses(message)) {
      std::string zipped;
      if (status s = gzip_compress(message, zipped); !s.ok()) return s;
      append_frame(scratch_, flag_compressed, zipped);
    } else {
      append_frame(scratch_, 0, message);
    }
    append_body(out, scratch_);
    return {};
  }

  // The end of the response with `s`; `trailers` are the handler's trailing metadata.
  template <response_output Out>
  void finish(Out& out, status const& s, error_details const& details, metadata const& trailers,
              metadata const& extra) {
    switch (format_) {
      case wire_format::connect_unary: finish_connect_unary(out, s, details, trailers, extra); break;
      case wire_format::connect_stream: {
        send_headers(out, extra);
        metadata end_metadata = trailers;
        if (s.retry_after_ms() >= 0) end_metadata.emplace_back("retry-after-ms", std::to_string(s.retry_after_ms()));
        std::string end;
        append_connect_end_stream_json(end, s, details, end_metadata);
        scratch_.clear();
        append_frame(scratch_, flag_end_stream, end);
        append_body(out, scratch_);
        out.end_response(nullptr);
        break;
      }
      case wire_format::grpc:
      case wire_format::grpc_web:
      case wire_format::grpc_web_text: {
        metadata status_trailers = grpc_status_trailers(s, details);
        status_trailers.insert(status_trailers.end(), trailers.begin(), trailers.end());
        if (!headers_sent_) {  // Trailers-Only: one HEADERS block that also ends the response
          headers_sent_ = true;
          metadata h = headers(false, extra);
          h.insert(h.end(), status_trailers.begin(), status_trailers.end());
          out.start_response(200, std::move(h), true);
        } else if (format_ == wire_format::grpc) {
          out.end_response(&status_trailers);
        } else {  // gRPC-Web: the trailers travel in the body, as the last frame
          scratch_.clear();
          append_grpc_web_trailers(scratch_, status_trailers);
          append_body(out, scratch_);
          out.end_response(nullptr);
        }
        break;
      }
    }
    // Sized for the largest message: a finished call whose answer still waits for the
    // peer's window should hold only that answer.
    std::string{}.swap(scratch_);
    std::string{}.swap(unary_message_);
  }

 private:
  [[nodiscard]] bool compresses(std::string_view message) const noexcept {
    return !encoding_.empty() && message.size() >= compress_min_bytes_;
  }

  // `for_body`: the response carries messages, so it names their compression.
  [[nodiscard]] metadata headers(bool for_body, metadata const& extra) const {
    metadata h;
    h.emplace_back("content-type", std::string{response_content_type(type_)});
    bool const grpc_family = format_ != wire_format::connect_unary && format_ != wire_format::connect_stream;
    if (for_body && !encoding_.empty())
      h.emplace_back(grpc_family ? "grpc-encoding" : "connect-content-encoding", std::string{encoding_});
    if (grpc_family) h.emplace_back("grpc-accept-encoding", std::string{supported_encodings});
    else if (format_ == wire_format::connect_stream) h.emplace_back("connect-accept-encoding", std::string{supported_encodings});
    h.insert(h.end(), extra.begin(), extra.end());
    return h;
  }

  template <response_output Out>
  void append_body(Out& out, std::string const& bytes) {
    if (format_ != wire_format::grpc_web_text) return out.append_body(bytes);
    std::string text;
    append_base64(text, bytes);
    out.append_body(text);
  }

  // Connect unary: the HTTP status is the code; an error is a JSON body; trailers are
  // headers prefixed "trailer-"; the retry hint is a plain header (once: clients merge
  // headers and trailers into one metadata).
  template <response_output Out>
  void finish_connect_unary(Out& out, status const& s, error_details const& details, metadata const& trailers,
                            metadata const& extra) {
    headers_sent_ = true;
    metadata h;
    std::string body;
    if (s.ok()) {
      h = headers(false, extra);
      if (compresses(unary_message_) && gzip_compress(unary_message_, body).ok()) {
        h.emplace_back("content-encoding", std::string{encoding_});
      } else {
        body.clear();
        body.swap(unary_message_);
      }
    } else {
      h.emplace_back("content-type", "application/json");
      append_connect_error_json(body, s, details);
      h.insert(h.end(), extra.begin(), extra.end());
    }
    for (auto const& [k, v] : trailers) h.emplace_back("trailer-" + k, v);
    if (s.retry_after_ms() >= 0) h.emplace_back("retry-after-ms", std::to_string(s.retry_after_ms()));
    out.start_response(connect_http_status(s.code()), std::move(h), body.empty());
    if (!body.empty()) {
      out.append_body(body);
      out.end_response(nullptr);
    }
  }

  content_type_info type_;
  wire_format format_;
  std::string_view encoding_;
  std::size_t compress_min_bytes_;
  bool headers_sent_ = false;
  std::string scratch_;
  std::string unary_message_;
};

}  // namespace edgepipe::protocol
