// A request body, fed as it arrives, to whole decompressed messages, in any of the wire
// formats: a Connect unary body is the message itself; every other format is frames,
// base64-wrapped for gRPC-Web text. Limits hold before anything is buffered: a message
// longer than the limit, compressed or not, fails without being read whole.
#pragma once

#include <edgepipe/protocol/compression.hpp>
#include <edgepipe/protocol/frame.hpp>
#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/protocol/wire_format.hpp>
#include <edgepipe/status.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::protocol {

namespace request_errors {
inline constexpr status bad_base64{code::invalid_argument, "malformed_frame", "invalid grpc-web-text base64"};
}  // namespace request_errors

class request_reader {
 public:
  // `gzip`: the request's messages may be compressed (the client named gzip).
  request_reader(wire_format format, bool gzip, std::size_t max_message_bytes)
      : format_{format},
        gzip_{gzip},
        max_message_bytes_{max_message_bytes},
        decoder_{frame_decoder::options{flag_compressed, max_message_bytes, gzip}} {}

  // Calls on_message(std::string&&) for each message the bytes complete. The first
  // failure is returned, and returned again by every later call.
  template <class OnMessage>
  status feed(std::string_view bytes, OnMessage&& on_message) {
    if (!failure_.ok()) return failure_;
    if (format_ == wire_format::connect_unary) {
      if (whole_body_.size() + bytes.size() > max_message_bytes_) return failure_ = frame_errors::too_large;
      whole_body_.append(bytes);
      return {};
    }
    if (format_ == wire_format::grpc_web_text) {
      text_.clear();
      if (!base64_.feed(bytes, text_)) return failure_ = request_errors::bad_base64;
      bytes = text_;
    }
    return failure_ = decode_frames(bytes, on_message);
  }

  // The body is complete: the Connect unary message, or the check that no frame was cut.
  template <class OnMessage>
  status finish(OnMessage&& on_message) {
    if (!failure_.ok()) return failure_;
    if (format_ == wire_format::connect_unary) {
      std::string message;
      if (status s = inflate(std::exchange(whole_body_, {}), message); !s.ok()) return failure_ = s;
      on_message(std::move(message));
      return {};
    }
    if (format_ == wire_format::grpc_web_text) {
      text_.clear();
      if (!base64_.finish(text_)) return failure_ = request_errors::bad_base64;
      if (status s = decode_frames(text_, on_message); !s.ok()) return failure_ = s;
    }
    return failure_ = decoder_.finish();
  }

 private:
  template <class OnMessage>
  status decode_frames(std::string_view bytes, OnMessage& on_message) {
    return decoder_.feed(bytes, [&](frame_view f) -> status {
      std::string message;
      if (f.flags & flag_compressed) {
        if (status s = gzip_decompress(f.message, message, max_message_bytes_); !s.ok()) return s;
      } else {
        message.assign(f.message);
      }
      on_message(std::move(message));
      return {};
    });
  }

  status inflate(std::string in, std::string& out) const {
    if (gzip_) return gzip_decompress(in, out, max_message_bytes_);
    out = std::move(in);
    return {};
  }

  wire_format format_;
  bool gzip_;
  std::size_t max_message_bytes_;
  frame_decoder decoder_;
  base64_decoder base64_;
  std::string text_;
  std::string whole_body_;
  status failure_{};
};

}  // namespace edgepipe::protocol
