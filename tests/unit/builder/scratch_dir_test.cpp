// Scratch directories of `ckms build`: a build that dies however it dies leaves its
// directory unlocked, and the next build removes it; a live build's directory, another
// user's and anything not named and marked like one are left alone.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "ckms/builder/scratch_dir.hpp"
#include "require_error.hpp"
#include "testkit.hpp"

namespace ckms::builder::test {
namespace fs = std::filesystem;

namespace {

// A child that makes a scratch dir, writes into it (read-only, as a sandbox may leave it),
// says where, and is then killed with SIGKILL before it can clean up.
fs::path scratch_of_killed_child(const fs::path& parent) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ScratchDir scratch(parent);
    fs::create_directories(scratch.path() / "work" / "tree");
    testkit::write_text(scratch.path() / "work" / "tree" / "file", "x");
    fs::permissions(scratch.path() / "work" / "tree", fs::perms::owner_read | fs::perms::owner_exec);
    const std::string path = scratch.path().string() + "\n";
    (void)!::write(pipe_fds[1], path.data(), path.size());
    ::pause();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string path;
  char c = 0;
  while (::read(pipe_fds[0], &c, 1) == 1 && c != '\n') path += c;
  ::close(pipe_fds[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  return path;
}

}  // namespace

TEST_CASE("a killed build's scratch dir is removed by the next; a live one's is not", "[builder][scratch]") {
  testkit::TempDir parent("ckms-scratch");
  const fs::path dead = scratch_of_killed_child(parent.path());
  REQUIRE(fs::exists(dead / "work" / "tree" / "file"));
  REQUIRE(dead.filename().string().starts_with("ckms-scratch-"));

  std::optional<ScratchDir> live(parent.path());
  // Named alike but not made by ScratchDir (no marker), or not named exactly like one:
  // someone else's, however unlocked.
  fs::create_directory(parent / "ckms-scratch-abcdef");
  fs::create_directory(parent / "ckms-scratch-fixture.abcdef");
  testkit::write_text(parent / "ckms-scratch-fixture.abcdef" / ".ckms-scratch", "");
  fs::create_directory(parent / "other");
  testkit::write_text(parent / "ckms-scratch-xyzxyz", "not a directory");

  const auto removed = remove_abandoned_scratch(parent.path());
  CHECK(removed == std::vector<fs::path>{dead});
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::is_directory(live->path()));
  CHECK(fs::is_directory(parent / "ckms-scratch-abcdef"));
  CHECK(fs::is_directory(parent / "ckms-scratch-fixture.abcdef"));
  CHECK(fs::exists(parent / "other"));
  CHECK(fs::exists(parent / "ckms-scratch-xyzxyz"));
  // Nothing hidden is left of the lock-then-rename either.
  for (const auto& entry : fs::directory_iterator(parent.path()))
    CHECK_FALSE(entry.path().filename().string().starts_with("."));

  const fs::path live_path = live->path();
  live.reset();
  CHECK_FALSE(fs::exists(live_path));
  CHECK(remove_abandoned_scratch(parent.path()).empty());
}

TEST_CASE("a scratch dir where none can be made names the parent", "[builder][scratch]") {
  testkit::require_error([] { ScratchDir scratch("/nonexistent-ckms-parent"); }, ErrorKind::io,
                         "cannot create a work directory in /nonexistent-ckms-parent");
}

}  // namespace ckms::builder::test
