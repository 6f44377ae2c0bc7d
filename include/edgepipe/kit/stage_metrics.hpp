// A chain observer that keeps metrics per stage, keyed by the stage's type: each stage's
// duration histogram, its rejections by reason, and the replay stage's reservations (any
// stage that provides replay_reserved). The series a run touches on success are found once,
// when the observer is built for its chain; a run updates them through pointers.
#pragma once

#include <edgepipe/kit/gateway_metrics.hpp>
#include <edgepipe/kit/metrics_registry.hpp>
#include <edgepipe/pipeline/chain.hpp>
#include <edgepipe/stages/facts.hpp>
#include <edgepipe/status.hpp>

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <string>
#include <type_traits>

namespace edgepipe::kit {

template <class Chain>
class stage_metrics;

template <class... Inputs, class... Stages>
class stage_metrics<chain<facts<Inputs...>, Stages...>> {
 public:
  // The registry must outlive the observer; one observer serves every run of the chain.
  explicit stage_metrics(metrics_registry& m)
      : registry_{&m},
        durations_{&m.series_histogram(metric_names::stage_duration, {{"stage", std::string{Stages::name}}})...},
        reserved_{&m.series_value(metric_names::replay_reservations, {{"result", "reserved"}})} {}

  struct token {
    std::chrono::steady_clock::time_point started;
  };

  template <class Stage>
  token stage_started(Stage const&) noexcept {
    return {std::chrono::steady_clock::now()};
  }

  template <class Stage>
  void stage_finished(Stage const&, token t, status const& outcome) noexcept {
    constexpr std::size_t i = index_of<Stage>();
    static_assert(i < sizeof...(Stages), "edgepipe::kit::stage_metrics: the stage is not in the observer's chain");
    durations_[i]->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t.started).count());
    if constexpr (std::same_as<typename Stage::provides_fact, stages::replay_reserved>) {
      if (outcome.ok()) *reserved_ += 1;
    }
    if (outcome.ok()) return;
    try {  // a rejection's labels are built per rejection: cheap beside the request it ends
      registry_->add(metric_names::rejections, {{"stage", std::string{Stage::name}}, {"reason", std::string{outcome.reason()}}});
      if constexpr (std::same_as<typename Stage::provides_fact, stages::replay_reserved>)
        registry_->add(metric_names::replay_reservations,
                       {{"result", outcome.reason() == "replayed_request" ? "replayed" : "unavailable"}});
    } catch (...) {
      // Out of memory while counting: the count is lost, the request is not.
    }
  }

 private:
  template <class Stage>
  static constexpr std::size_t index_of() noexcept {
    constexpr std::array<bool, sizeof...(Stages)> same{std::is_same_v<Stage, Stages>...};
    for (std::size_t i = 0; i < same.size(); ++i)
      if (same[i]) return i;
    return same.size();
  }

  metrics_registry* registry_;
  std::array<metrics_registry::histogram*, sizeof...(Stages)> durations_;
  double* reserved_;
};

}  // namespace edgepipe::kit
