// Log lines about one request (on standard output, as the gateway's other logs), with its identifiers as fields: `message key=value ...` in
// text, `{"time","level","message",key:value...}` in JSON (EDGEPIPE_LOG_FORMAT=json), so a
// line leads to its trace (trace_id) and its request (request_id). Never payloads,
// signatures or keys: callers pass identifiers and outcomes only.
#pragma once

#include <edgepipe/protocol/json_text.hpp>
#include <edgepipe/status.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace edgepipe::reference {

class request_log {
 public:
  using field = std::pair<std::string_view, std::string_view>;

  explicit request_log(bool json) : json_{json}, logger_{std::make_shared<spdlog::logger>(
                                                     "requests", std::make_shared<spdlog::sinks::stdout_sink_mt>())} {
    if (json_) logger_->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})");
    logger_->set_level(spdlog::get_level());
  }

  [[nodiscard]] bool enabled(spdlog::level::level_enum level) const { return logger_->should_log(level); }

  // The end of one edge call (the kit's call log): rejections at info, the rest at debug.
  void call_finished(std::string_view procedure, status const& outcome, std::string_view request_id,
                     std::string_view trace_id) const {
    if (outcome.code() == code::canceled)  // the client left: normal for a stream
      write(spdlog::level::debug, "call canceled", {{"procedure", procedure}, {"request_id", request_id}, {"trace_id", trace_id}});
    else if (outcome.ok())
      write(spdlog::level::debug, "call ok", {{"procedure", procedure}, {"request_id", request_id}, {"trace_id", trace_id}});
    else
      write(spdlog::level::info, "call rejected",
            {{"procedure", procedure}, {"code", to_string(outcome.code())}, {"reason", outcome.reason()},
             {"request_id", request_id}, {"trace_id", trace_id}});
  }

  void write(spdlog::level::level_enum level, std::string_view message, std::initializer_list<field> fields) const {
    if (!logger_->should_log(level)) return;
    std::string line;
    if (json_) {
      line += "\"message\":";
      protocol::append_json_string(line, message);
      for (auto const& [k, v] : fields) {
        if (v.empty()) continue;
        line += ',';
        protocol::append_json_string(line, k);
        line += ':';
        protocol::append_json_string(line, v.substr(0, 128));
      }
    } else {
      line.append(message);
      for (auto const& [k, v] : fields) {
        if (v.empty()) continue;
        line += ' ';
        line.append(k);
        line += '=';
        // A client chose some of these bytes: printable ASCII only, bounded, one line.
        for (char c : v.substr(0, 128)) line += c > 0x20 && c < 0x7f ? c : '?';
      }
    }
    logger_->log(level, "{}", line);
  }

 private:
  bool json_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace edgepipe::reference
