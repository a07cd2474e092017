#include "core/object.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/kinds.h"
#include "core/yaml.h"

namespace bosun {
namespace {

TEST(Object, TypedMetadataAccess) {
  Object o(Json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "42", "generation": 3,
                 "creationTimestamp": "2026-11-21T20:49:01Z",
                 "labels": {"app": "web"}, "annotations": {"a/b": "c"},
                 "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u-0", "controller": true}]},
    "spec": {"replicas": 2}})"));
  EXPECT_EQ(o.api_version(), "apps/v1");
  EXPECT_EQ(o.gvk(), (GroupVersionKind{"apps", "v1", "Deployment"}));
  EXPECT_EQ(o.name(), "web");
  EXPECT_EQ(o.namespace_(), "shop");
  EXPECT_EQ(o.uid(), "u-1");
  EXPECT_EQ(o.resource_version(), "42");
  EXPECT_EQ(o.generation(), 3);
  EXPECT_EQ(o.creation_timestamp(), "2026-11-21T20:49:01Z");
  EXPECT_EQ(o.labels(), (StringMap{{"app", "web"}}));
  EXPECT_EQ(o.annotation("a/b"), "c");
  EXPECT_EQ(o.label("missing"), std::nullopt);
  ASSERT_EQ(o.owner_references().size(), 1u);
  EXPECT_EQ(o.controller_ref()->uid, "u-0");
  EXPECT_EQ(o.spec()["replicas"], 2);
  EXPECT_TRUE(o.status().is_null());
  EXPECT_EQ(o.Key(), "shop/web");
  EXPECT_EQ(o.Describe(), "Deployment shop/web");
}

TEST(Object, MistypedFieldsReadAsEmptyWithoutThrowing) {
  Object o(Json::parse(R"({"kind": 3, "metadata": {"name": ["x"], "labels": "no", "generation": "2"}})"));
  EXPECT_EQ(o.kind(), "");
  EXPECT_EQ(o.name(), "");
  EXPECT_TRUE(o.labels().empty());
  EXPECT_EQ(o.generation(), 0);
  Object not_a_map(Json::parse("[1,2]"));
  EXPECT_EQ(not_a_map.name(), "");
}

TEST(Object, SettersKeepUnknownFields) {
  auto docs = LoadYaml(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  futureField: {x: 1}\n"
      "data: {a: b}\nextra: [1, two]\n",
      "c.yaml");
  ASSERT_TRUE(docs.ok());
  Object o((*docs)[0].value);
  Json before = o.json();
  o.set_label("bosun.dev/managed-by", "bosun");
  o.set_resource_version("7");
  EXPECT_EQ(o.json()["metadata"]["futureField"], before["metadata"]["futureField"]);
  EXPECT_EQ(o.json()["extra"], Json::parse(R"([1, "two"])"));
  o.remove_label("bosun.dev/managed-by");
  o.json()["metadata"].erase("resourceVersion");
  o.json()["metadata"].erase("labels");
  EXPECT_EQ(o.json(), before);
  // And through a JSON text round trip.
  EXPECT_EQ(Json::parse(o.json().dump()), before);
}

TEST(Object, OwnerReferencesRoundTrip) {
  Object o(GroupVersionKind{"apps", "v1", "ReplicaSet"}, "ns", "rs-1");
  o.set_owner_references({{"apps/v1", "Deployment", "web", "uid-1", true, true}});
  auto refs = o.owner_references();
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].name, "web");
  EXPECT_TRUE(refs[0].controller);
  EXPECT_TRUE(refs[0].block_owner_deletion);
  o.set_owner_references({});
  EXPECT_FALSE(o.json()["metadata"].contains("ownerReferences"));
}

TEST(Kinds, RegistryMapsKindsToResources) {
  const auto& reg = KindRegistry::Builtin();
  const KindInfo* d = reg.Find({"apps", "v1", "Deployment"});
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->resource, "deployments");
  EXPECT_TRUE(d->namespaced);
  EXPECT_EQ(d->Path("shop", "web"), "/apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(StoreKey(*d, "shop", "web"), "/registry/apps/deployments/shop/web");

  const KindInfo* ns = reg.Find({"", "v1", "Namespace"});
  ASSERT_NE(ns, nullptr);
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(ns->Path("", "shop"), "/api/v1/namespaces/shop");
  EXPECT_EQ(StoreKey(*ns, "", "shop"), "/registry/core/namespaces/shop");

  for (const char* k : {"Namespace", "Pod", "ConfigMap", "Secret", "Service", "Node", "Deployment", "ReplicaSet", "Job",
                        "SealedSecret", "Policy", "SyncConfig", "Revision"}) {
    EXPECT_NE(reg.FindKind(k), nullptr) << k;
  }
  EXPECT_EQ(reg.Find({"bosun.dev", "v1", "SealedSecret"})->resource, "sealedsecrets");
  EXPECT_FALSE(reg.Find({"bosun.dev", "v1", "Revision"})->namespaced);
  EXPECT_EQ(reg.Find({"extensions", "v1beta1", "Deployment"}), nullptr);
}

TEST(Kinds, CliNamesResolve) {
  const auto& reg = KindRegistry::Builtin();
  for (const char* n : {"deploy", "deployments", "deployment", "Deployment", "deployments.apps"}) {
    ASSERT_NE(reg.FindResource(n), nullptr) << n;
    EXPECT_EQ(reg.FindResource(n)->gvk.kind, "Deployment") << n;
  }
  EXPECT_EQ(reg.FindResource("po")->gvk.kind, "Pod");
  EXPECT_EQ(reg.FindResource("svc")->gvk.kind, "Service");
  EXPECT_EQ(reg.FindResource("cm")->gvk.kind, "ConfigMap");
  EXPECT_EQ(reg.FindResource("pods.apps"), nullptr);
  EXPECT_EQ(reg.FindResource("ingress"), nullptr);
  EXPECT_EQ(reg.FindByPath("batch", "v1", "jobs")->gvk.kind, "Job");
}

TEST(Kinds, ApplyOrderPutsNamespacesFirstAndServicesLast) {
  EXPECT_LT(ApplyOrder({"", "v1", "Namespace"}), ApplyOrder({"", "v1", "ConfigMap"}));
  EXPECT_LT(ApplyOrder({"", "v1", "Secret"}), ApplyOrder({"apps", "v1", "Deployment"}));
  EXPECT_LT(ApplyOrder({"bosun.dev", "v1", "SealedSecret"}), ApplyOrder({"batch", "v1", "Job"}));
  EXPECT_LT(ApplyOrder({"apps", "v1", "Deployment"}), ApplyOrder({"", "v1", "Service"}));
}

}  // namespace
}  // namespace bosun
