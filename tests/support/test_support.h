// Helpers shared by the test suites: temporary directories, random tensors, running the CLI.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace jamba::test {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f);

struct CommandResult {
  int exit_code = -1;     // -1 when killed by a signal
  int signal = 0;         // signal number when killed, else 0
  bool timed_out = false;
  std::string out;
  std::string err;
};
// Runs argv (argv[0] is a path) with a timeout, capturing stdout and stderr; `input` is the
// child's whole standard input.
CommandResult run_command(const std::vector<std::string>& argv, int timeout_seconds = 60, const std::string& input = "");
// Runs the jamba binary built beside the tests.
CommandResult run_jamba(const std::vector<std::string>& args, int timeout_seconds = 60, const std::string& input = "");

std::string fixtures_dir();

}  // namespace jamba::test
