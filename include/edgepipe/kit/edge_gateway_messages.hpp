// The wire messages and method paths of edgepipe.gateway.v1.EdgeGateway, for
// contract_service: the generated classes of proto/edgepipe/gateway/v1/gateway.proto.
#pragma once

#include "gateway.pb.h"

#include <string_view>

namespace edgepipe::kit {

struct edge_gateway_messages {
  using request = edgepipe::gateway::v1::SignedRequest;
  using response = edgepipe::gateway::v1::SignedResponse;
  using event = edgepipe::gateway::v1::SignedEvent;
  static constexpr std::string_view execute_path = "/edgepipe.gateway.v1.EdgeGateway/ExecuteCommand";
  static constexpr std::string_view subscribe_path = "/edgepipe.gateway.v1.EdgeGateway/SubscribeEvents";
};

}  // namespace edgepipe::kit
