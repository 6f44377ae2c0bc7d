// The metrics registry: counters, gauges and histograms with labels, written in the
// Prometheus text format (0.0.4). Single-threaded: one registry per event loop.
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgepipe::kit {

// A label value as the text format wants it: backslash, double quote and newline escaped.
inline void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
}

using labels = std::vector<std::pair<std::string, std::string>>;

inline std::string label_text(labels const& l) {
  if (l.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < l.size(); ++i) {
    if (i) out += ',';
    out += l[i].first;
    out += "=\"";
    append_label_value(out, l[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

// The shortest text that reads back as the same double ("0.0005", not 0.00050000000000000001).
inline std::string number_text(double v) {
  char buf[512];  // fixed notation of any double fits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return ec == std::errc{} ? std::string{buf, end} : std::string{"NaN"};
}

class metrics_registry {
 public:
  static constexpr std::array<double, 12> duration_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,   0.25,   0.5,   1,    2.5};

  void describe(std::string name, std::string type, std::string help) {
    families_[name] = {std::move(type), std::move(help)};
  }

  void add(std::string const& name, labels const& l, double by = 1) { series_[name][label_text(l)] += by; }
  void set(std::string const& name, labels const& l, double v) { series_[name][label_text(l)] = v; }

  struct histogram {
    std::array<unsigned long long, duration_buckets.size()> buckets{};
    unsigned long long count = 0;
    double sum = 0;

    void observe(double seconds) noexcept {
      for (std::size_t i = 0; i < duration_buckets.size(); ++i)
        if (seconds <= duration_buckets[i]) ++buckets[i];
      ++count;
      sum += seconds;
    }
  };

  void observe(std::string const& name, labels const& l, double seconds) { series_histogram(name, l).observe(seconds); }

  // One series, to keep and update without looking it up (and building its label text)
  // per request. References stay valid for the registry's life.
  histogram& series_histogram(std::string const& name, labels const& l) { return histograms_[name][label_text(l)]; }
  double& series_value(std::string const& name, labels const& l) { return series_[name][label_text(l)]; }

  // Adds `other`'s families, series and histograms into this one: how per-thread registries
  // (one per event loop, never shared) become one exposition at scrape time. Counters and
  // histograms add up; so do gauges, which per-thread registries hold as each thread's share
  // (its own subscriptions, say).
  void merge(metrics_registry const& other) {
    for (auto const& [name, f] : other.families_) families_.try_emplace(name, f);
    for (auto const& [name, series] : other.series_)
      for (auto const& [l, v] : series) series_[name][l] += v;
    for (auto const& [name, series] : other.histograms_)
      for (auto const& [l, h] : series) {
        histogram& into = histograms_[name][l];
        for (std::size_t i = 0; i < duration_buckets.size(); ++i) into.buckets[i] += h.buckets[i];
        into.count += h.count;
        into.sum += h.sum;
      }
  }

  [[nodiscard]] std::string text() const {
    std::string out;
    for (auto const& [name, family] : families_) {
      out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + family.type + "\n";
      if (auto it = series_.find(name); it != series_.end())
        for (auto const& [l, v] : it->second) out += name + l + " " + number_text(v) + "\n";
      if (auto it = histograms_.find(name); it != histograms_.end())
        for (auto const& [l, h] : it->second) {
          // Buckets are cumulative; the label set gains "le".
          std::string const inner = l.empty() ? std::string{} : l.substr(1, l.size() - 2) + ",";
          for (std::size_t i = 0; i < duration_buckets.size(); ++i)
            out += name + "_bucket{" + inner + "le=\"" + number_text(duration_buckets[i]) + "\"} " +
                   number_text(static_cast<double>(h.buckets[i])) + "\n";
          out += name + "_bucket{" + inner + "le=\"+Inf\"} " + number_text(static_cast<double>(h.count)) + "\n";
          out += name + "_sum" + l + " " + number_text(h.sum) + "\n";
          out += name + "_count" + l + " " + number_text(static_cast<double>(h.count)) + "\n";
        }
    }
    return out;
  }

 private:
  struct family {
    std::string type, help;
  };
  std::map<std::string, family> families_;
  std::map<std::string, std::map<std::string, double>> series_;
  std::map<std::string, std::map<std::string, histogram>> histograms_;
};

}  // namespace edgepipe::kit
