// A buffered blob upload whose PUT is reset mid-body: docker-registry ends the upload
// session, so replaying the PUT finds none; the client must start a new session.

#include <catch2/catch.hpp>

#include "ckms/base/error.hpp"
#include "ckms/oci/registry.hpp"
#include "fault_proxy.hpp"
#include "faults_support.hpp"

using namespace ckms;
using namespace ckms::faults;

TEST_CASE("a buffered upload reset mid-body is sent again in a new session", "[faults]") {
  FaultPlan plan;
  plan.fault = Fault::reset;
  plan.probability = 1.0;
  plan.budget = 1;  // HEAD and POST carry no body to cut: the first PUT takes the reset
  FaultProxy proxy(registry_port(), plan);
  oci::RegistryRepository repo(via(proxy.authority(), "faults/upload-retry"), fast_options());
  const std::string bytes(200 << 10, 'u');
  const auto descriptor = oci::Descriptor::for_content("application/octet-stream", bytes);
  ckms::StringReader reader(bytes);
  repo.push(descriptor, reader);
  CHECK(proxy.injected() == 1);
  oci::RegistryRepository direct(registry().reference("faults/upload-retry"), fast_options());
  CHECK(direct.exists(descriptor));
  CHECK(registry_problems().empty());
}
