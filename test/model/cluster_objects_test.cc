#include "model/cluster_objects.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/test_util.h"

namespace propsy::model {
namespace {

using ::propsy::model::testing::Base64;
using ::propsy::model::testing::CertAndKey;
using ::propsy::model::testing::MakeCertificate;
using ::propsy::model::testing::Patched;
using ::propsy::model::testing::Yaml;
using ::testing::HasSubstr;

constexpr char kService[] = R"(
apiVersion: propsy.seznam.cz/v1
kind: ProPsyService
metadata: {name: web, namespace: shop, resourceVersion: "1"}
spec: {service: web, servicePort: 8080, listen: "80", nodes: ["*"], percent: 30}
)";

constexpr char kSlice[] = R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["10.0.0.1"]}]
)";

const ObjectKey kWeb{"shop", "web"};

TEST(ObjectKindTest, NamesAndTypeMeta) {
  EXPECT_STREQ(ObjectKindName(ObjectKind::kProPsyService), "ProPsyService");
  EXPECT_STREQ(ObjectKindName(ObjectKind::kEndpointSlice), "EndpointSlice");
  EXPECT_STREQ(ObjectKindName(ObjectKind::kEndpoints), "Endpoints");
  EXPECT_STREQ(ObjectKindName(ObjectKind::kSecret), "Secret");
  EXPECT_EQ(ObjectKindOf("propsy.seznam.cz/v1", "ProPsyService"), ObjectKind::kProPsyService);
  EXPECT_EQ(ObjectKindOf("discovery.k8s.io/v1", "EndpointSlice"), ObjectKind::kEndpointSlice);
  EXPECT_EQ(ObjectKindOf("v1", "Endpoints"), ObjectKind::kEndpoints);
  EXPECT_EQ(ObjectKindOf("v1", "Secret"), ObjectKind::kSecret);
  EXPECT_EQ(ObjectKindOf("v1", "ConfigMap"), std::nullopt);
  EXPECT_EQ(ObjectKindOf("discovery.k8s.io/v1beta1", "EndpointSlice"), std::nullopt);
}

TEST(ObjectStoreTest, EmptySnapshotIsStable) {
  ObjectStore store;
  const ClusterObjectsPtr first = store.Snapshot();
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->services.empty());
  EXPECT_EQ(store.Snapshot(), first);
}

TEST(ObjectStoreTest, KeepsLastGoodWhenAnUpdateTurnsInvalid) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kService)).ok());
  const ClusterObjectsPtr valid = store.Snapshot();
  ASSERT_EQ(valid->services.count(kWeb), 1u);
  EXPECT_TRUE(valid->services.at(kWeb).error.ok());
  EXPECT_EQ(valid->services.at(kWeb).last_good->spec.percent, 30u);

  // Same object again: nothing changes, not even the pointer.
  ASSERT_TRUE(store.Upsert(Yaml(kService)).ok());
  EXPECT_EQ(store.Snapshot(), valid);

  rapidjson::Document bad = Patched(Yaml(kService), "spec", "percent: 150");
  bad["metadata"]["resourceVersion"] = "2";
  const absl::Status status = store.Upsert(bad);
  EXPECT_THAT(std::string(status.message()), HasSubstr("spec.percent"));
  const ClusterObjectsPtr invalid = store.Snapshot();
  EXPECT_NE(invalid, valid);
  const Entry<ProPsyService>& entry = invalid->services.at(kWeb);
  ASSERT_TRUE(entry.last_good.has_value());
  EXPECT_EQ(entry.last_good->spec.percent, 30u);
  // A ProPsyService's resourceVersion is kept beside the configuration.
  EXPECT_EQ(entry.last_good->meta.resource_version, "");
  EXPECT_EQ(entry.latest_meta.resource_version, "");
  EXPECT_EQ(store.Statuses()->at(kWeb).resource_version, "2");
  EXPECT_EQ(entry.error, status);
  // The older snapshot is untouched.
  EXPECT_TRUE(valid->services.at(kWeb).error.ok());

  // Fixed again: error cleared, new version served.
  rapidjson::Document fixed = Patched(Yaml(kService), "spec", "percent: 40");
  ASSERT_TRUE(store.Upsert(fixed).ok());
  EXPECT_TRUE(store.Snapshot()->services.at(kWeb).error.ok());
  EXPECT_EQ(store.Snapshot()->services.at(kWeb).last_good->spec.percent, 40u);

  store.Delete(ObjectKind::kProPsyService, kWeb);
  EXPECT_TRUE(store.Snapshot()->services.empty());
}

TEST(ObjectStoreTest, NewInvalidObjectHasNoLastGood) {
  ObjectStore store;
  EXPECT_FALSE(store.Upsert(Patched(Yaml(kService), "spec", "listen: null")).ok());
  const Entry<ProPsyService>& entry = store.Snapshot()->services.at(kWeb);
  EXPECT_FALSE(entry.last_good.has_value());
  EXPECT_FALSE(entry.error.ok());
  EXPECT_EQ(entry.latest_meta.key, kWeb);
  EXPECT_EQ(store.Statuses()->at(kWeb).resource_version, "1");
}

// A status write comes back through the watch as the same object with a
// new resourceVersion, a new status and new managedFields: the
// configuration snapshot stays the same object (nothing downstream needs to
// look at it), only the statuses change.
TEST(ObjectStoreTest, StatusOnlyChangeKeepsTheConfigurationSnapshot) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kService)).ok());
  const ClusterObjectsPtr config = store.Snapshot();
  const ShownStatusesPtr unwritten = store.Statuses();
  ASSERT_EQ(unwritten->count(kWeb), 1u);
  EXPECT_EQ(unwritten->at(kWeb).resource_version, "1");
  EXPECT_TRUE(unwritten->at(kWeb).status.conditions.empty());

  const rapidjson::Document with_status = Patched(Yaml(kService), "", R"(
status:
  observedGeneration: 1
  conditions:
  - {type: Accepted, status: "True", reason: Accepted, message: ok, observedGeneration: 1,
     lastTransitionTime: "2026-12-03T15:00:00Z"}
)");
  rapidjson::Document written = Patched(with_status, "metadata", R"(
resourceVersion: "2"
managedFields: [{manager: propsy, operation: Update, subresource: status}]
)");
  ASSERT_TRUE(store.Upsert(written).ok());
  EXPECT_EQ(store.Snapshot(), config) << "a status-only change made new configuration";
  const ShownStatusesPtr shown = store.Statuses();
  EXPECT_NE(shown, unwritten);
  EXPECT_EQ(shown->at(kWeb).resource_version, "2");
  ASSERT_EQ(shown->at(kWeb).status.conditions.size(), 1u);
  EXPECT_EQ(shown->at(kWeb).status.conditions[0].type, "Accepted");
  EXPECT_EQ(shown->at(kWeb).status.observed_generation, 1);
  // The snapshot handed out before is untouched.
  EXPECT_EQ(unwritten->at(kWeb).resource_version, "1");

  // The same again (a relist): nothing changes.
  ASSERT_TRUE(store.Upsert(written).ok());
  EXPECT_EQ(store.Statuses(), shown);
  EXPECT_EQ(store.Snapshot(), config);

  // A spec change makes new configuration (and a new resourceVersion).
  const rapidjson::Document spec_change =
      Patched(Patched(written, "spec", "percent: 40"), "metadata",
              "{resourceVersion: \"3\", generation: 2}");
  ASSERT_TRUE(store.Upsert(spec_change).ok());
  EXPECT_NE(store.Snapshot(), config);
  EXPECT_EQ(store.Snapshot()->services.at(kWeb).last_good->spec.percent, 40u);
  EXPECT_EQ(store.Statuses()->at(kWeb).resource_version, "3");

  // Deleted: gone from both.
  store.Delete(ObjectKind::kProPsyService, kWeb);
  EXPECT_TRUE(store.Snapshot()->services.empty());
  EXPECT_TRUE(store.Statuses()->empty());
}

TEST(ObjectStoreTest, UnreadableKeyIsNotStored) {
  ObjectStore store;
  const ClusterObjectsPtr before = store.Snapshot();
  const absl::Status status = store.Upsert(Patched(Yaml(kService), "", "metadata: {namespace: a}"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("metadata.name: missing"));
  EXPECT_EQ(store.Snapshot(), before);
  EXPECT_TRUE(before->services.empty());
}

TEST(ObjectStoreTest, OtherKindsAreIgnoredAndTypeMetaIsRequired) {
  ObjectStore store;
  const ClusterObjectsPtr before = store.Snapshot();
  EXPECT_TRUE(store.Upsert(Yaml("{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}")).ok());
  EXPECT_EQ(store.Snapshot(), before);
  EXPECT_FALSE(store.Upsert(Yaml("{metadata: {name: x}}")).ok());
  EXPECT_FALSE(store.Upsert(rapidjson::Value(5)).ok());
  EXPECT_EQ(store.Snapshot(), before);
}

TEST(ObjectStoreTest, UpsertWithKnownKindNeedsNoTypeMeta) {
  ObjectStore store;
  ASSERT_TRUE(store
                  .Upsert(ObjectKind::kEndpointSlice,
                          Patched(Yaml(kSlice), "", "{apiVersion: null, kind: null}"))
                  .ok());
  EXPECT_EQ(store.Snapshot()->endpoints.count(kWeb), 1u);
}

TEST(ObjectStoreTest, SecretsOnlyOfTypeTls) {
  const CertAndKey pair = MakeCertificate("web");
  const std::string secret = R"(
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: web-tls, namespace: shop}
data:
  tls.crt: )" + Base64(pair.cert_pem) +
                             R"(
  tls.key: )" + Base64(pair.key_pem) +
                             "\n";
  const ObjectKey key{"shop", "web-tls"};
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Patched(Yaml(secret), "", "type: Opaque")).ok());
  EXPECT_TRUE(store.Snapshot()->secrets.empty());
  ASSERT_TRUE(store.Upsert(Yaml(secret)).ok());
  ASSERT_EQ(store.Snapshot()->secrets.count(key), 1u);
  EXPECT_EQ(store.Snapshot()->secrets.at(key).last_good->private_key_pem, pair.key_pem);
  // A broken update keeps the last good key pair.
  EXPECT_FALSE(store.Upsert(Patched(Yaml(secret), "data", "tls.key: null")).ok());
  EXPECT_EQ(store.Snapshot()->secrets.at(key).last_good->private_key_pem, pair.key_pem);
  EXPECT_FALSE(store.Snapshot()->secrets.at(key).error.ok());
  // No longer a TLS secret: dropped.
  ASSERT_TRUE(store.Upsert(Patched(Yaml(secret), "", "type: Opaque")).ok());
  EXPECT_TRUE(store.Snapshot()->secrets.empty());
}

TEST(ObjectStoreTest, EndpointSetsAreCopiedOnWritePerService) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kSlice)).ok());
  ASSERT_TRUE(store
                  .Upsert(Patched(Yaml(kSlice), "metadata",
                                  "{name: api-1, labels: {kubernetes.io/service-name: api}}"))
                  .ok());
  const ClusterObjectsPtr first = store.Snapshot();
  ASSERT_EQ(first->endpoints.size(), 2u);
  const auto web = first->endpoints.at(kWeb);
  const auto api = first->endpoints.at({"shop", "api"});
  EXPECT_EQ(web->slices.count("web-1"), 1u);

  // A second slice of web: web's set is replaced, api's is shared.
  ASSERT_TRUE(store
                  .Upsert(Patched(Yaml(kSlice), "metadata",
                                  "{name: web-2, labels: {kubernetes.io/service-name: web}}"))
                  .ok());
  const ClusterObjectsPtr second = store.Snapshot();
  EXPECT_NE(second, first);
  EXPECT_EQ(second->endpoints.at({"shop", "api"}), api);
  EXPECT_NE(second->endpoints.at(kWeb), web);
  EXPECT_EQ(second->endpoints.at(kWeb)->slices.size(), 2u);
  EXPECT_EQ(web->slices.size(), 1u);  // the old snapshot's set is unchanged
}

TEST(ObjectStoreTest, SliceMovesWhenItsServiceLabelChanges) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kSlice)).ok());
  ASSERT_TRUE(store
                  .Upsert(Patched(Yaml(kSlice), "metadata",
                                  "{name: web-1, labels: {kubernetes.io/service-name: api}}"))
                  .ok());
  const ClusterObjectsPtr snapshot = store.Snapshot();
  EXPECT_EQ(snapshot->endpoints.count(kWeb), 0u);  // left empty: dropped
  ASSERT_EQ(snapshot->endpoints.count({"shop", "api"}), 1u);
  EXPECT_EQ(snapshot->endpoints.at({"shop", "api"})->slices.at("web-1").last_good->service_name,
            "api");
  // Deleting finds it at its new service.
  store.Delete(ObjectKind::kEndpointSlice, {"shop", "web-1"});
  EXPECT_TRUE(store.Snapshot()->endpoints.empty());
}

TEST(ObjectStoreTest, InvalidSliceUpdateStaysWithItsLastGoodService) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kSlice)).ok());
  // Broken address and a new label: the last good version still serves web.
  rapidjson::Document bad = Patched(Yaml(kSlice), "", "endpoints: [{addresses: [nope]}]");
  bad["metadata"]["labels"]["kubernetes.io/service-name"] = "api";
  EXPECT_FALSE(store.Upsert(bad).ok());
  const ClusterObjectsPtr snapshot = store.Snapshot();
  ASSERT_EQ(snapshot->endpoints.count(kWeb), 1u);
  EXPECT_EQ(snapshot->endpoints.count({"shop", "api"}), 0u);
  const Entry<EndpointSlice>& entry = snapshot->endpoints.at(kWeb)->slices.at("web-1");
  ASSERT_TRUE(entry.last_good.has_value());
  EXPECT_EQ(entry.last_good->endpoints[0].addresses[0], "10.0.0.1");
  EXPECT_THAT(std::string(entry.error.message()), HasSubstr("endpoints[0].addresses[0]"));
}

TEST(ObjectStoreTest, InvalidSliceWithoutServiceIsNotStored) {
  ObjectStore store;
  EXPECT_FALSE(store.Upsert(Patched(Yaml(kSlice), "metadata", "labels: null")).ok());
  EXPECT_TRUE(store.Snapshot()->endpoints.empty());
  // A new invalid slice with a readable label is recorded with its error.
  EXPECT_FALSE(store.Upsert(Patched(Yaml(kSlice), "", "addressType: bad")).ok());
  const Entry<EndpointSlice>& entry = store.Snapshot()->endpoints.at(kWeb)->slices.at("web-1");
  EXPECT_FALSE(entry.last_good.has_value());
  EXPECT_FALSE(entry.error.ok());
}

TEST(ObjectStoreTest, CoreEndpointsKeepLastGood) {
  const std::string endpoints = R"(
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: shop}
subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 8080}]}]
)";
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(endpoints)).ok());
  ASSERT_TRUE(store.Snapshot()->endpoints.at(kWeb)->core_endpoints.has_value());
  EXPECT_EQ(store.Snapshot()->endpoints.at(kWeb)->core_endpoints->last_good->size(), 1u);
  const ClusterObjectsPtr before = store.Snapshot();
  ASSERT_TRUE(store.Upsert(Yaml(endpoints)).ok());
  EXPECT_EQ(store.Snapshot(), before);

  EXPECT_FALSE(
      store.Upsert(Patched(Yaml(endpoints), "", "subsets: [{addresses: [{ip: x}]}]")).ok());
  const auto& entry = *store.Snapshot()->endpoints.at(kWeb)->core_endpoints;
  ASSERT_TRUE(entry.last_good.has_value());
  EXPECT_EQ(entry.last_good->at(0).endpoints[0].addresses[0], "10.0.0.1");
  EXPECT_FALSE(entry.error.ok());

  // Slices and core Endpoints of one service live side by side.
  ASSERT_TRUE(store.Upsert(Yaml(kSlice)).ok());
  EXPECT_EQ(store.Snapshot()->endpoints.at(kWeb)->slices.size(), 1u);
  store.Delete(ObjectKind::kEndpoints, kWeb);
  EXPECT_FALSE(store.Snapshot()->endpoints.at(kWeb)->core_endpoints.has_value());
  EXPECT_EQ(store.Snapshot()->endpoints.at(kWeb)->slices.size(), 1u);
}

TEST(ObjectStoreTest, RetainOnlyDropsWhatARelistDidNotSee) {
  ObjectStore store;
  ASSERT_TRUE(store.Upsert(Yaml(kService)).ok());
  ASSERT_TRUE(store.Upsert(Patched(Yaml(kService), "metadata", "name: other")).ok());
  ASSERT_TRUE(store.Upsert(Yaml(kSlice)).ok());
  ASSERT_TRUE(store
                  .Upsert(Patched(Yaml(kSlice), "metadata",
                                  "{name: web-2, labels: {kubernetes.io/service-name: web}}"))
                  .ok());
  const ClusterObjectsPtr before = store.Snapshot();
  store.RetainOnly(ObjectKind::kProPsyService, {kWeb, {"shop", "other"}});
  EXPECT_EQ(store.Snapshot(), before);  // nothing dropped, nothing changed

  store.RetainOnly(ObjectKind::kProPsyService, {kWeb});
  EXPECT_EQ(store.Snapshot()->services.size(), 1u);
  EXPECT_EQ(store.Snapshot()->services.count(kWeb), 1u);

  store.RetainOnly(ObjectKind::kEndpointSlice, {{"shop", "web-2"}});
  ASSERT_EQ(store.Snapshot()->endpoints.count(kWeb), 1u);
  EXPECT_EQ(store.Snapshot()->endpoints.at(kWeb)->slices.size(), 1u);
  EXPECT_EQ(store.Snapshot()->endpoints.at(kWeb)->slices.count("web-2"), 1u);
  store.RetainOnly(ObjectKind::kEndpointSlice, {});
  EXPECT_TRUE(store.Snapshot()->endpoints.empty());
  // Services are untouched by endpoint relists.
  EXPECT_EQ(store.Snapshot()->services.size(), 1u);
}

}  // namespace
}  // namespace propsy::model
