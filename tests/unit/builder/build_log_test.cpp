#include <catch2/catch.hpp>

#include "ckms/builder/build_log.hpp"

using namespace ckms::builder;

TEST_CASE("build log: the compiler's error far above make's Error 2 lines") {
  // The shape of a parallel kbuild failure: the error, then other objects still compiling,
  // then make unwinding.
  const std::string log =
      "DKMS make.log for demo-1.0\n"
      "  CC [M]  /var/lib/dkms/demo/1.0/build/a.o\n"
      "/var/lib/dkms/demo/1.0/build/a.c:18:9: error: 'struct foo' has no member named 'bar'\n"
      "   18 |   f->bar = 1;\n"
      "  CC [M]  /var/lib/dkms/demo/1.0/build/b.o\n"
      "/var/lib/dkms/demo/1.0/build/b.c:3:10: fatal error: linux/gone.h: No such file or directory\n"
      "make[2]: *** [scripts/Makefile.build:250: /var/lib/dkms/demo/1.0/build/a.o] Error 1\n"
      "make[1]: *** [Makefile:2026: /var/lib/dkms/demo/1.0/build] Error 2\n"
      "make: *** [Makefile:5: all] Error 2\n";
  CHECK(first_error_lines(log) ==
        std::vector<std::string>{
            "/var/lib/dkms/demo/1.0/build/a.c:18:9: error: 'struct foo' has no member named 'bar'",
            "/var/lib/dkms/demo/1.0/build/b.c:3:10: fatal error: linux/gone.h: No such file or directory"});
}

TEST_CASE("build log: modpost, the linker and make's Stop") {
  const std::string log =
      "ERROR: modpost: \"helper_fn\" [/var/lib/dkms/demo/1.0/build/demo.ko] undefined!\r\n"
      "ld: demo.o: in function `f': undefined reference to `g'\n"
      "make[1]: *** No rule to make target 'gone.o', needed by 'demo.o'.  Stop.\n"
      "make: *** [Makefile:5: all] Error 2\n"
      "WARNING: modpost: missing MODULE_DESCRIPTION() in demo.o\n";
  const auto lines = first_error_lines(log);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "ERROR: modpost: \"helper_fn\" [/var/lib/dkms/demo/1.0/build/demo.ko] undefined!");
  CHECK(lines[1].find("undefined reference to `g'") != std::string::npos);
  CHECK(lines[2].ends_with("needed by 'demo.o'.  Stop."));
}

TEST_CASE("build log: at most `limit` lines, none in a clean log") {
  std::string log;
  for (int i = 0; i < 20; ++i) log += "x.c:" + std::to_string(i) + ":1: error: e\n";
  CHECK(first_error_lines(log, 3).size() == 3);
  CHECK(first_error_lines(log, 3).front() == "x.c:0:1: error: e");
  CHECK(first_error_lines("  CC [M]  a.o\n  LD [M]  a.ko\n").empty());
}
