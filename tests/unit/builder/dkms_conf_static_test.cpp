#include <catch2/catch.hpp>

#include <algorithm>

#include "ckms/base/error.hpp"
#include "ckms/builder/dkms_conf_static.hpp"

using namespace ckms::builder;

namespace {

DkmsEnvironment env() {
  DkmsEnvironment e = DkmsEnvironment::for_kernel("6.1.0-56-amd64");
  e.module = "demo";
  e.module_version = "1.0";
  return e;
}

StaticParseResult parse(std::string_view text) { return parse_dkms_conf_static(text, env(), "<inline>"); }

std::string var(const StaticParseResult& r, const std::string& name, std::size_t index = 0) {
  const auto it = r.variables.find(name);
  REQUIRE(it != r.variables.end());
  const auto e = it->second.find(index);
  REQUIRE(e != it->second.end());
  return e->second;
}

bool flagged_at(const StaticParseResult& r, std::size_t line, std::string_view construct) {
  return std::any_of(r.unsupported.begin(), r.unsupported.end(), [&](const StaticFinding& f) {
    return f.line == line && f.construct.find(construct) != std::string::npos;
  });
}

bool undetermined(const StaticParseResult& r, std::string_view name) {
  return std::find(r.undetermined.begin(), r.undetermined.end(), name) != r.undetermined.end();
}

}  // namespace

TEST_CASE("static: plain assignments, quotes, comments and arrays") {
  const auto r = parse(
      "# a comment\n"
      "PACKAGE_NAME=\"demo\"   # trailing comment\n"
      "PACKAGE_VERSION='1.0'\n"
      "BUILT_MODULE_NAME[0]=demo_a\n"
      "BUILT_MODULE_NAME[ 1 ]=demo_b\n"
      "DEST_MODULE_LOCATION[0]=/extra; DEST_MODULE_LOCATION[1]=/extra\n"
      "CLEAN=make\\ clean\n");
  CHECK(r.exact());
  CHECK(var(r, "PACKAGE_NAME") == "demo");
  CHECK(var(r, "PACKAGE_VERSION") == "1.0");
  CHECK(var(r, "BUILT_MODULE_NAME", 1) == "demo_b");
  CHECK(var(r, "DEST_MODULE_LOCATION", 1) == "/extra");
  CHECK(var(r, "CLEAN") == "make clean");
}

TEST_CASE("static: expansion of DKMS variables and of earlier assignments") {
  const auto r = parse(
      "PACKAGE_NAME=demo\nPACKAGE_VERSION=1.0\n"
      "MAKE[0]=\"make -C ${kernel_source_dir} M=$dkms_tree/${PACKAGE_NAME}/$PACKAGE_VERSION/build\"\n"
      "KSRC=/lib/modules/$kernelver/build\n"
      "CLEAN=\"make -C $KSRC clean\"\n"
      "BUILT_MODULE_NAME[0]=\"${PACKAGE_NAME}\"\n"
      "PRE_BUILD=\"echo ${BUILT_MODULE_NAME[0]} $arch\"\n");
  CHECK(r.exact());
  CHECK(var(r, "MAKE") == "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/demo/1.0/build");
  CHECK(var(r, "CLEAN") == "make -C /lib/modules/6.1.0-56-amd64/build clean");
  CHECK(var(r, "PRE_BUILD") == "echo demo x86_64");
  // Helper variables of the file do not survive read_conf.
  CHECK_FALSE(r.variables.contains("KSRC"));
}

TEST_CASE("static: line continuations inside and outside quotes, and DKMS's echo collapse") {
  // jool-dkms writes its MAKE over three lines; DKMS's re-export joins the words with
  // single spaces.
  const auto r = parse(
      "MAKE[0]=\"make a \\\n      && make b\"\n"
      "CLEAN=make\\\n_clean\n"
      "PRE_BUILD=\"  two   spaces\tand tab  \"\n");
  CHECK(r.exact());
  CHECK(var(r, "MAKE") == "make a && make b");
  CHECK(var(r, "CLEAN") == "make_clean");
  CHECK(var(r, "PRE_BUILD") == " two spaces and tab ");
}

TEST_CASE("static: quotes inside a value are read a second time, as safe_source does") {
  // rtpengine-kernel-dkms: RTPENGINE_VERSION=\"${PACKAGE_VERSION}\" loses its quotes.
  const auto r = parse(
      "PACKAGE_VERSION=10.5\n"
      "MAKE[0]=\"make RTPENGINE_VERSION=\\\"${PACKAGE_VERSION}\\\"\"\n"
      "CLEAN='make V=$kernelver'\n");
  CHECK(var(r, "MAKE") == "make RTPENGINE_VERSION=10.5");
  // A single-quoted $kernelver survives the first reading and expands in the second.
  CHECK(var(r, "CLEAN") == "make V=6.1.0-56-amd64");
}

TEST_CASE("static: append and export") {
  const auto r = parse("MAKE=make\nMAKE+=\" V=1\"\nexport PACKAGE_NAME=demo\n");
  CHECK(r.exact());
  CHECK(var(r, "MAKE") == "make V=1");
  CHECK(var(r, "PACKAGE_NAME") == "demo");
}

TEST_CASE("static: an unset variable expands to nothing, with a note") {
  const auto r = parse("MAKE=\"make $NOPE all\"\n");
  CHECK(r.exact());
  CHECK(var(r, "MAKE") == "make all");
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0].detail.find("$NOPE") != std::string::npos);
}

TEST_CASE("static: shell logic is flagged with its line and its effects stay undetermined") {
  const auto r = parse(
      "PACKAGE_NAME=demo\n"                           // 1
      "if [ -f $kernel_source_dir/.config ]; then\n"  // 2
      "  BUILD_EXCLUSIVE_KERNEL=\"REQUIRES X\"\n"     // 3
      "fi\n"                                          // 4
      "VERSION=$(echo $kernelver | cut -d. -f1)\n"    // 5
      "MAKE[0]=\"make V=$VERSION\"\n"                 // 6
      "case \"$arch\" in\n"                           // 7
      "  x86_64) STRIP[0]=no ;;\n"                    // 8
      "esac\n"                                        // 9
      "CLEAN=\"make clean\"\n");                      // 10
  CHECK_FALSE(r.exact());
  CHECK(flagged_at(r, 2, "if"));
  CHECK(flagged_at(r, 5, "command substitution"));
  CHECK(flagged_at(r, 7, "case"));
  CHECK(undetermined(r, "BUILD_EXCLUSIVE_KERNEL"));
  CHECK(undetermined(r, "MAKE"));
  CHECK(undetermined(r, "STRIP"));
  // After the blocks end, plain assignments are honoured again.
  CHECK(var(r, "CLEAN") == "make clean");
  CHECK(var(r, "PACKAGE_NAME") == "demo");
}

TEST_CASE("static: computed subscripts make the whole array undetermined") {
  const auto r = parse("i=0\nBUILT_MODULE_NAME[$i]=a\ni=$((i+1))\nBUILT_MODULE_NAME[1]=b\n");
  CHECK(flagged_at(r, 3, "arithmetic"));
  CHECK(undetermined(r, "BUILT_MODULE_NAME"));
  CHECK_FALSE(r.variables.contains("BUILT_MODULE_NAME"));
}

TEST_CASE("static: commands, pipelines, functions and backquotes are flagged, never run") {
  const auto r = parse(
      "pushd `dirname $BASH_SOURCE`\n"            // 1
      "PACKAGE_VERSION=2.6\n"                     // 2
      "popd\n"                                    // 3
      "f() { MAKE=evil; }\n"                      // 4
      "true && CLEAN=x\n"                         // 5
      "cat <<EOF\nMAKE=not_an_assignment\nEOF\n"  // 6-8
      "PRE_BUILD=ok\n");                          // 9
  CHECK(flagged_at(r, 1, "command substitution"));
  CHECK(flagged_at(r, 1, "command `pushd`"));
  CHECK(flagged_at(r, 3, "command `popd`"));
  CHECK(flagged_at(r, 4, "function definition"));
  CHECK(flagged_at(r, 5, "operator `&&`"));
  CHECK(flagged_at(r, 6, "operator `<<`"));
  CHECK(var(r, "PACKAGE_VERSION") == "2.6");
  CHECK(undetermined(r, "CLEAN"));
  CHECK(undetermined(r, "MAKE"));
  CHECK(var(r, "PRE_BUILD") == "ok");
}

TEST_CASE("static: hostile input is refused or flagged without running anything") {
  SECTION("rm -rf / is a command that is reported, not run") {
    const auto r = parse("rm -rf /\nPACKAGE_NAME=x\n");
    CHECK(flagged_at(r, 1, "command `rm`"));
    CHECK(var(r, "PACKAGE_NAME") == "x");
  }
  SECTION("command substitution in a value") {
    const auto r = parse("MAKE=\"$(rm -rf / --no-preserve-root)\"\n");
    CHECK(flagged_at(r, 1, "command substitution"));
    CHECK(undetermined(r, "MAKE"));
  }
  SECTION("a value that becomes a command substitution in DKMS's second reading") {
    const auto r = parse("MAKE='$(touch /tmp/pwned)'\n");
    CHECK(flagged_at(r, 1, "command substitution"));
    CHECK(undetermined(r, "MAKE"));
  }
  SECTION("unbalanced quotes stop the reading with the opening line") {
    const auto r = parse("PACKAGE_NAME=x\nMAKE=\"make\nCLEAN=y\n");
    CHECK(flagged_at(r, 2, "syntax error"));
    CHECK(var(r, "PACKAGE_NAME") == "x");
    CHECK_FALSE(r.exact());
  }
  SECTION("unbalanced single quote, $( and ${") {
    CHECK(flagged_at(parse("A='x\n"), 1, "syntax error"));
    CHECK(flagged_at(parse("A=$(echo\n"), 1, "syntax error"));
    CHECK(flagged_at(parse("A=${x\n"), 1, "syntax error"));
    CHECK(flagged_at(parse("A=`x\n"), 1, "syntax error"));
  }
  SECTION("deep nesting does not recurse") {
    std::string deep = "MAKE=\"" + std::string(100000, '(') + "\"\n";
    CHECK(parse(deep).exact());
    std::string subst = "MAKE=" + std::string(50000, '$') + std::string(50000, '(') + "\n";
    CHECK_FALSE(parse(subst).exact());
  }
  SECTION("a value doubled on every line stops growing at the file size limit") {
    std::string doubling = "MAKE=ab\n";
    for (int i = 0; i < 40; ++i) doubling += "MAKE=$MAKE$MAKE\n";  // 2^41 bytes if honoured
    const auto r = parse(doubling);
    CHECK(flagged_at(r, 21, "oversized value"));
    CHECK(undetermined(r, "MAKE"));
  }
  SECTION("files larger than 1 MiB and NUL bytes are refused") {
    const std::string huge(kMaxDkmsConfBytes + 1, '#');
    CHECK_THROWS_AS(parse(huge), ckms::Error);
    CHECK_THROWS_AS(parse(std::string("A=1\0B=2", 7)), ckms::Error);
  }
  SECTION("a large file of plain assignments is read") {
    std::string many;
    for (int i = 0; i < 20000; ++i) many += "BUILT_MODULE_NAME[" + std::to_string(i) + "]=m\n";
    const auto r = parse(many);
    CHECK(r.exact());
    CHECK(r.variables.at("BUILT_MODULE_NAME").size() == 20000);
  }
}

TEST_CASE("static: a CRLF file reads as its LF twin, as DKMS's safe_source strips the CR") {
  const std::string lf =
      "PACKAGE_NAME=\"demo\"\n"
      "PACKAGE_VERSION=1.0\n"
      "\n"
      "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/demo/1.0/build\"\n"
      "BUILT_MODULE_NAME[0]=demo\n"
      "DEST_MODULE_LOCATION[0]=/updates\n";
  std::string crlf;
  for (const char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const auto r = parse(crlf);
  CHECK(r.exact());
  CHECK(r.variables == parse(lf).variables);
  CHECK(var(r, "MAKE") == "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/demo/1.0/build");
  // The empty line is bash running a command named CR: noted, harmless.
  CHECK(std::any_of(r.notes.begin(), r.notes.end(),
                    [](const StaticFinding& f) { return f.line == 3 && f.construct == "carriage return"; }));
}
