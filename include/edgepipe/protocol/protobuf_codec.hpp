// Messages as bytes: binary protobuf, or protobuf JSON through libprotobuf's JSON utilities.
#pragma once

#include <edgepipe/protocol/content_type.hpp>
#include <edgepipe/status.hpp>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <string>
#include <string_view>

namespace edgepipe::protocol {

inline constexpr status undecodable{code::invalid_argument, "malformed_message", "cannot decode the request message"};
inline constexpr status unencodable{code::internal, "unencodable_message", "cannot encode the response message"};

inline status decode_message(message_codec codec, std::string_view bytes, google::protobuf::Message& out) {
  if (codec == message_codec::proto) {
    if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return undecodable;
    return {};
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // as Connect's JSON codec: newer clients may send more
  if (!google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece{bytes.data(), bytes.size()}, &out,
                                                   options)
           .ok())
    return undecodable;
  return {};
}

inline status encode_message(message_codec codec, google::protobuf::Message const& message, std::string& out) {
  out.clear();
  if (codec == message_codec::proto) {
    if (!message.SerializeToString(&out)) return unencodable;
    return {};
  }
  if (!google::protobuf::util::MessageToJsonString(message, &out).ok()) return unencodable;
  return {};
}

}  // namespace edgepipe::protocol
