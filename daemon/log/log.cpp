#include "log/log.hpp"

#include <fcntl.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <vector>

namespace k8sinpod::log {

namespace {

std::mutex g_mutex;
/// Every logger's one sink; it forwards to stdout and, when set up, the file.
std::shared_ptr<spdlog::sinks::dist_sink_mt> g_sink;
spdlog::sink_ptr g_stdout;
spdlog::sink_ptr g_file;
Format g_format = Format::text;
spdlog::level::level_enum g_level = spdlog::level::info;

std::string utc_time(spdlog::log_clock::time_point tp) {
  const auto t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count() % 1000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// The names `log.level` accepts (spdlog's own say "warning" and "critical").
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "off";
}

// %* in the text pattern: the level under the same names, padded to 5.
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string name(level_name(msg.level));
    name.resize(std::max<std::size_t>(name.size(), 5), ' ');
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto line = json_line(utc_time(msg.time), level_name(msg.level),
                                std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                                std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(Format f) {
  if (f == Format::json) return std::make_unique<JsonFormatter>();
  auto text = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  text->add_flag<LevelFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %* [%n] %v");
  return text;
}

/// Creates the shared sink on first use. Requires g_mutex.
void ensure_sink() {
  if (g_sink) return;
  g_stdout = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  g_sink = std::make_shared<spdlog::sinks::dist_sink_mt>(std::vector<spdlog::sink_ptr>{g_stdout});
  g_sink->set_formatter(make_formatter(g_format));
}

/// The rotating file sink, or the reason it cannot be opened. spdlog reports a bad path, a bad
/// size or a failed open by throwing spdlog_ex; that stops here.
Result<spdlog::sink_ptr> open_file(const LogFile& file, Format format) {
  const auto where = "log.file \"" + file.path + "\": ";
  if (file.max_size == 0) return fail(where + "max_size must be greater than 0");
  if (file.max_files < 0 || file.max_files > 200000) {
    return fail(where + "max_files must be between 0 and 200000, got " +
                std::to_string(file.max_files));
  }
  spdlog::file_event_handlers handlers;
  // Children get no descriptor of ours but their pipes; the process runner closes the rest
  // anyway, this keeps the log file out of anything else that execs.
  handlers.after_open = [](const spdlog::filename_t&, std::FILE* f) {
    if (f == nullptr) return;
    ::fcntl(::fileno(f), F_SETFD, FD_CLOEXEC);
    ::fchmod(::fileno(f), 0640);  // logs are not for every local user (fopen honours the umask)
  };
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        file.path, static_cast<std::size_t>(file.max_size),
        static_cast<std::size_t>(file.max_files), false, handlers);
    sink->set_formatter(make_formatter(format));
    return spdlog::sink_ptr(std::move(sink));
  } catch (const std::exception& e) {
    return fail(where + "cannot open: " + e.what());
  }
}

/// Requires g_mutex.
void apply_level(spdlog::level::level_enum level) {
  g_level = level;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
  spdlog::set_level(level);
}

}  // namespace

void setup(spdlog::level::level_enum level, Format format) {
  // Cannot fail: without a file only stdout is set up.
  (void)setup(level, format, std::nullopt);
}

Result<void> setup(spdlog::level::level_enum level, Format format,
                   const std::optional<LogFile>& file) {
  std::lock_guard lock(g_mutex);
  ensure_sink();
  Result<void> result;
  if (file) {
    auto opened = open_file(*file, format);
    if (opened.has_value()) {
      if (g_file) g_sink->remove_sink(g_file);
      g_file = std::move(*opened);
      g_sink->add_sink(g_file);
    } else {
      result = opened.error();
    }
  } else if (g_file) {
    g_sink->remove_sink(g_file);
    g_file.reset();
  }
  g_format = format;
  g_sink->set_formatter(make_formatter(format));
  apply_level(level);
  spdlog::flush_on(spdlog::level::trace);  // a PID 1 must not lose its last words
  return result;
}

void set_level(spdlog::level::level_enum level) {
  std::lock_guard lock(g_mutex);
  apply_level(level);
}

void set_format(Format format) {
  std::lock_guard lock(g_mutex);
  ensure_sink();
  g_format = format;
  g_sink->set_formatter(make_formatter(format));
}

void flush() {
  std::lock_guard lock(g_mutex);
  if (g_sink) g_sink->flush();
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
  if (auto l = spdlog::get(name)) return l;
  std::lock_guard lock(g_mutex);
  if (auto l = spdlog::get(name)) return l;
  ensure_sink();
  auto l = std::make_shared<spdlog::logger>(name, g_sink);
  l->set_level(g_level);
  // register_logger (unlike initialize_logger) does not apply spdlog::flush_on: do it here, or
  // the file would only be written when its buffer fills.
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string json_line(std::string_view time, std::string_view level, std::string_view logger,
                      std::string_view message) {
  std::string out = "{\"time\":\"";
  out += json_escape(time);
  out += "\",\"level\":\"";
  out += json_escape(level);
  out += "\",\"logger\":\"";
  out += json_escape(logger);
  out += "\",\"message\":\"";
  out += json_escape(message);
  out += "\"}";
  return out;
}

}  // namespace k8sinpod::log
