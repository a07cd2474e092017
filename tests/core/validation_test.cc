// Validation as a user meets it: through LoadDesiredSet, with file:line:col and
// the field path in every message.
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/manifests.h"

namespace bosun {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Errors (not warnings) for one file's text, formatted as the CLI prints them.
std::vector<std::string> Errors(const std::string& yaml, const std::string& file = "app.yaml") {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{{file, yaml}});
  std::vector<std::string> out;
  for (const auto& d : set.diagnostics)
    if (d.severity == Severity::kError) out.push_back(d.ToString());
  return out;
}

std::vector<std::string> Warnings(const std::string& yaml) {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{{"app.yaml", yaml}});
  std::vector<std::string> out;
  for (const auto& d : set.diagnostics)
    if (d.severity == Severity::kWarning) out.push_back(d.ToString());
  return out;
}

const char* kGoodDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
  annotations:
    example.com/owner: "team-a"
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
    matchExpressions:
      - {key: tier, operator: In, values: [frontend]}
  strategy:
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: web
        tier: frontend
    spec:
      containers:
        - name: web
          image: nginx:1.25
          args: ["--port", "8080"]
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: MODE
              value: production
            - name: LEVEL
              valueFrom:
                configMapKeyRef: {name: web-config, key: level}
            - name: PASSWORD
              valueFrom:
                secretKeyRef: {name: web-secret, key: password}
          envFrom:
            - configMapRef: {name: web-config}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {cpu: 1, memory: 128Mi}
          readinessProbe:
            httpGet: {path: /healthz, port: http}
          livenessProbe:
            tcpSocket: {port: 8080}
            failureThreshold: 3
          volumeMounts:
            - {name: data, mountPath: /data}
      volumes:
        - name: data
          emptyDir: {}
)";

TEST(Validation, OrdinaryManifestsAreValid) {
  EXPECT_THAT(Errors(kGoodDeployment), IsEmpty());
  EXPECT_THAT(Errors(R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: metrics, port: 9090, targetPort: 9090}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data:
  level: debug
  app.properties: |
    a=b
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - {name: m, image: busybox, command: [sh, -c, "echo hi"]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
)"),
              IsEmpty());
}

TEST(Validation, MissingImageNamesFileLineColumnAndField) {
  EXPECT_THAT(Errors(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
    - name: app
      ports:
        - containerPort: 80
)",
                     "apps/pod.yaml"),
              ElementsAre("apps/pod.yaml:7:7: spec.containers[0].image: required"));
}

TEST(Validation, EveryErrorOfAFileIsReported) {
  auto errs = Errors(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: Web_App
spec:
  replicas: "3"
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: other}
    spec:
      containers:
        - name: web
          image: nginx
          ports:
            - containerPort: 70000
)");
  EXPECT_THAT(errs, ElementsAre(HasSubstr("app.yaml:4:9: metadata.name: "),
                                HasSubstr("app.yaml:6:13: spec.replicas: must be a number, not a string"),
                                HasSubstr("app.yaml:11:15: spec.template.metadata.labels: selector does not match"),
                                HasSubstr("app.yaml:17:30: spec.template.spec.containers[0].ports[0].containerPort: "
                                          "must be between 1 and 65535, got 70000")));
}

struct Case {
  const char* name;
  const char* yaml;
  const char* want;  // a substring of the single expected error
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class RuleTest : public ::testing::TestWithParam<Case> {};

TEST_P(RuleTest, FailsWithTheRightMessage) {
  auto errs = Errors(GetParam().yaml);
  ASSERT_EQ(errs.size(), 1u) << ::testing::PrintToString(errs);
  EXPECT_THAT(errs[0], HasSubstr(GetParam().want));
}

// Every error at once: a value of the wrong type does not hide the others'
// base64 errors (one refused revision, not two).
TEST(Validation, ASecretsTypeAndBase64ErrorsAreReportedTogether) {
  auto errs = Errors("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {a: 1, tok: \"not base64!\"}\n");
  ASSERT_EQ(errs.size(), 2u) << ::testing::PrintToString(errs);
  EXPECT_THAT(errs[0], HasSubstr("data.a: must be a string, not a number"));
  EXPECT_THAT(errs[1], HasSubstr("data.tok: must be base64-encoded"));
  EXPECT_THAT(errs[1], Not(HasSubstr("not base64!")));
}

#define POD(spec) "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" spec

INSTANTIATE_TEST_SUITE_P(
    Rules, RuleTest,
    ::testing::Values(
        Case{"NoApiVersion", "kind: Pod\nmetadata: {name: p}\n", "apiVersion: required"},
        Case{"UnknownKind", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\n",
             "kind: unknown kind \"Ingress\" in \"networking.k8s.io/v1\""},
        Case{"WrongApiVersion", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\n",
             "apiVersion: Deployment is served as \"apps/v1\", not \"extensions/v1beta1\""},
        Case{"NoName", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\n", "metadata.name: required"},
        Case{"UppercaseName", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Web}\n",
             "metadata.name: a lowercase RFC 1123 subdomain"},
        Case{"NamespaceNameIsALabel", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n",
             "metadata.name: must not contain dots"},
        Case{"BadNamespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Prod}\n",
             "metadata.namespace:"},
        Case{"BadLabelKey", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {\"-x\": z}}\n",
             "metadata.labels.-x: invalid label key"},
        Case{"BadLabelValue", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {x: \"a b\"}}\n",
             "metadata.labels.x: invalid label value \"a b\""},
        Case{"NumericLabelValue", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {version: 1.0}}\n",
             "metadata.labels.version: must be a string, not a number (quote it: \"1\")"},
        Case{"ConfigMapKey", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {\"a b\": x}\n",
             "data[a b]: invalid key \"a b\""},
        Case{"SecretNotBase64", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {password: hunter2!}\n",
             "data.password: must be base64-encoded"},
        Case{"SecretPaddingInside", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {t: \"AB=C\"}\n",
             "data.t: must be base64-encoded"},
        Case{"QuotedNumber", POD("  containers: [{name: a, image: x}]\n  terminationGracePeriodSeconds: \"30\"\n"),
             "terminationGracePeriodSeconds: must be a number, not a string (remove the quotes around \"30\")"},
        // No quotes to remove: a unit where only a number of seconds goes.
        Case{"NumberWithAUnit", POD("  containers: [{name: a, image: x}]\n  terminationGracePeriodSeconds: 30s\n"),
             "terminationGracePeriodSeconds: must be a number, not \"30s\""},
        Case{"NoContainers", POD("  containers: []\n"), "spec.containers: required: at least one container"},
        Case{"ContainerName", POD("  containers: [{name: Web, image: x}]\n"), "spec.containers[0].name:"},
        Case{"DuplicateContainer", POD("  containers: [{name: a, image: x}, {name: a, image: z}]\n"),
             "spec.containers[1].name: duplicate container name \"a\""},
        Case{
            "PullPolicy", POD("  containers: [{name: a, image: x, imagePullPolicy: Sometimes}]\n"),
            "imagePullPolicy: unsupported value \"Sometimes\": must be one of \"Always\", \"IfNotPresent\", \"Never\""},
        Case{"PortName", POD("  containers: [{name: a, image: x, ports: [{containerPort: 80, name: http_port}]}]\n"),
             "spec.containers[0].ports[0].name:"},
        Case{"PortProtocol", POD("  containers: [{name: a, image: x, ports: [{containerPort: 80, protocol: HTTP}]}]\n"),
             "ports[0].protocol: unsupported value \"HTTP\""},
        Case{"DuplicateHostPort",
             POD("  containers: [{name: a, image: x, ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81, "
                 "hostPort: 8080}]}]\n"),
             "ports[1].hostPort: duplicate host port 8080/TCP"},
        Case{"EnvName", POD("  containers: [{name: a, image: x, env: [{name: \"1=x\", value: z}]}]\n"),
             "spec.containers[0].env[0].name:"},
        Case{"EnvNumber", POD("  containers: [{name: a, image: x, env: [{name: PORT, value: 8080}]}]\n"),
             "env[0].value: must be a string, not a number (quote it: \"8080\")"},
        Case{"EnvValueAndFrom",
             POD("  containers: [{name: a, image: x, env: [{name: A, value: b, valueFrom: {fieldRef: {fieldPath: "
                 "metadata.name}}}]}]\n"),
             "env[0].valueFrom: may not be specified when value is not empty"},
        Case{"EnvFromNothing", POD("  containers: [{name: a, image: x, env: [{name: A, valueFrom: {}}]}]\n"),
             "env[0].valueFrom: must specify one of configMapKeyRef"},
        Case{"BadQuantity", POD("  containers: [{name: a, image: x, resources: {limits: {memory: 12x}}}]\n"),
             "resources.limits.memory: "},
        Case{"NegativeQuantity", POD("  containers: [{name: a, image: x, resources: {requests: {cpu: -1}}}]\n"),
             "resources.requests.cpu: must be greater than or equal to 0"},
        Case{
            "RequestOverLimit",
            POD("  containers: [{name: a, image: x, resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}}]\n"),
            "resources.requests.memory: must be less than or equal to the memory limit of 512Mi"},
        Case{"UnknownResource", POD("  containers: [{name: a, image: x, resources: {limits: {gpu: 1}}}]\n"),
             "resources.limits.gpu: unknown resource \"gpu\""},
        Case{"ProbeNoHandler", POD("  containers: [{name: a, image: x, livenessProbe: {periodSeconds: 5}}]\n"),
             "livenessProbe: must specify a handler"},
        Case{"ProbeTwoHandlers",
             POD("  containers: [{name: a, image: x, readinessProbe: {tcpSocket: {port: 1}, exec: {command: [x]}}}]\n"),
             "readinessProbe: may not specify more than one handler"},
        Case{"ProbePort", POD("  containers: [{name: a, image: x, readinessProbe: {httpGet: {port: 0}}}]\n"),
             "readinessProbe.httpGet.port: must be between 1 and 65535, got 0"},
        Case{"ProbeNoPort", POD("  containers: [{name: a, image: x, readinessProbe: {httpGet: {path: /}}}]\n"),
             "readinessProbe.httpGet.port: required"},
        Case{"LivenessSuccess",
             POD("  containers: [{name: a, image: x, livenessProbe: {exec: {command: [x]}, successThreshold: 2}}]\n"),
             "livenessProbe.successThreshold: must be 1"},
        Case{"MountUnknownVolume",
             POD("  containers: [{name: a, image: x, volumeMounts: [{name: data, mountPath: /d}]}]\n"),
             "volumeMounts[0].name: no volume named \"data\""},
        Case{"MountRelative",
             POD("  volumes: [{name: d, emptyDir: {}}]\n  containers: [{name: a, image: x, volumeMounts: [{name: d, "
                 "mountPath: d}]}]\n"),
             "volumeMounts[0].mountPath: must be an absolute path"},
        Case{"VolumeNoSource", POD("  volumes: [{name: d}]\n  containers: [{name: a, image: x}]\n"),
             "spec.volumes[0]: must specify a volume type"},
        Case{"RestartPolicy", POD("  restartPolicy: Sometimes\n  containers: [{name: a, image: x}]\n"),
             "spec.restartPolicy: unsupported value"},
        Case{"Toleration", POD("  tolerations: [{operator: Equal, value: x}]\n  containers: [{name: a, image: x}]\n"),
             "spec.tolerations[0].operator: must be \"Exists\" when key is empty"},
        Case{"DeploymentNoSelector",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: "
             "{a: b}}\n    spec: {containers: [{name: a, image: x}]}\n",
             "spec.selector: required"},
        Case{"DeploymentEmptySelector",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {}\n  template:\n    "
             "metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, image: x}]}\n",
             "spec.selector: empty selector is invalid"},
        Case{"SelectorOperator",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchExpressions: [{key: "
             "a, operator: Foo}]}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, "
             "image: x}]}\n",
             "spec.selector.matchExpressions[0].operator: unsupported value \"Foo\""},
        Case{"DeploymentNegativeReplicas",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: -1\n  selector: "
             "{matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, "
             "image: x}]}\n",
             "spec.replicas: must be greater than or equal to 0, got -1"},
        Case{"DeploymentReplicasTooLarge",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 2147483648\n  selector: "
             "{matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, "
             "image: x}]}\n",
             "spec.replicas: must be at most 2147483647, got 2147483648"},
        Case{"DeploymentFractionalReplicas",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1.5\n  selector: "
             "{matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, "
             "image: x}]}\n",
             "spec.replicas: must be a whole number, not 1.5"},
        Case{"DeploymentRestartNever",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  "
             "template:\n    metadata: {labels: {a: b}}\n    spec: {restartPolicy: Never, containers: [{name: a, "
             "image: x}]}\n",
             "spec.template.spec.restartPolicy: unsupported value \"Never\""},
        Case{"SurgeAndUnavailableZero",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  strategy: {rollingUpdate: "
             "{maxSurge: 0, maxUnavailable: 0%}}\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: "
             "{labels: {a: b}}\n    spec: {containers: [{name: a, image: x}]}\n",
             "rollingUpdate.maxUnavailable: may not be 0 when maxSurge is 0"},
        Case{"BadPercent",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  strategy: {rollingUpdate: "
             "{maxSurge: lots}}\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    "
             "spec: {containers: [{name: a, image: x}]}\n",
             "rollingUpdate.maxSurge: must be a number or a percentage such as \"25%\", got \"lots\""},
        Case{"RecreateWithRollingUpdate",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  strategy: {type: Recreate, "
             "rollingUpdate: {maxSurge: 1}}\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: "
             "{a: b}}\n    spec: {containers: [{name: a, image: x}]}\n",
             "spec.strategy.rollingUpdate: may not be specified when strategy type is \"Recreate\""},
        Case{"ProgressDeadline",
             "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  minReadySeconds: 30\n  "
             "progressDeadlineSeconds: 10\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: "
             "b}}\n    spec: {containers: [{name: a, image: x}]}\n",
             "spec.progressDeadlineSeconds: must be greater than minReadySeconds (30)"},
        Case{"JobRestartPolicyMissing",
             "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec: {containers: "
             "[{name: a, image: x}]}\n",
             "spec.template.spec.restartPolicy: required: a Job's pods need restartPolicy"},
        Case{"JobRestartAlways",
             "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec: {restartPolicy: "
             "Always, containers: [{name: a, image: x}]}\n",
             "unsupported value \"Always\": a Job's pods need"},
        Case{"JobBackoff",
             "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  backoffLimit: -2\n  template:\n    spec: "
             "{restartPolicy: Never, containers: [{name: a, image: x}]}\n",
             "spec.backoffLimit: must be greater than or equal to 0"},
        Case{"ServiceNoPorts", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {a: b}}\n",
             "spec.ports: required"},
        Case{"ServicePortRange", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n",
             "spec.ports[0].port: must be between 1 and 65535, got 0"},
        Case{"ServicePortNames",
             "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{name: a, port: 1}, {port: 2}]}\n",
             "spec.ports[1].name: required when a Service has more than one port"},
        Case{"ServiceTargetPortName",
             "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, targetPort: "
             "averyverylongname}]}\n",
             "spec.ports[0].targetPort: must be no more than 15 characters"},
        Case{"ServiceNodePortOnClusterIP",
             "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1, nodePort: 30001}]}\n",
             "spec.ports[0].nodePort: may not be used when type is \"ClusterIP\""},
        Case{"ServiceName", "apiVersion: v1\nkind: Service\nmetadata: {name: web.api}\nspec: {ports: [{port: 1}]}\n",
             "metadata.name: a DNS-1035 label"},
        Case{"ServiceNameStartsWithALetter",
             "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 1}]}\n",
             "metadata.name: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
             "alphabetic character"},
        Case{"SyncConfigVerify",
             "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: s}\nspec: {verify: some}\n",
             "spec.verify: unsupported value \"some\""},
        Case{"SyncConfigInterval",
             "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: s}\nspec: {interval: soon}\n",
             "spec.interval:"},
        Case{"SealedSecretEmpty",
             "apiVersion: bosun.dev/v1\nkind: SealedSecret\nmetadata: {name: s}\nspec: {encryptedData: {}}\n",
             "spec.encryptedData: required"},
        Case{"SealedSecretPlainValue",
             "apiVersion: bosun.dev/v1\nkind: SealedSecret\nmetadata: {name: s}\nspec:\n  encryptedData:\n"
             "    password: hunter2\n",
             "app.yaml:6:15: spec.encryptedData.password: not a sealed value"},
        Case{"SealedSecretBadScope",
             "apiVersion: bosun.dev/v1\nkind: SealedSecret\nmetadata:\n  name: s\n  annotations:\n"
             "    bosun.dev/sealed-scope: global\nspec:\n  encryptedData:\n    password: "
             "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
             "must be strict, namespace or cluster, not \"global\""},
        Case{"RevisionFromGit", "apiVersion: bosun.dev/v1\nkind: Revision\nmetadata: {name: r}\n",
             "Revision records are written by bosun itself"},
        Case{"GitRepositoryFromGit", "apiVersion: bosun.dev/v1\nkind: GitRepository\nmetadata: {name: r}\n",
             "written by bosun from its server flags"},
        // A Node in a repository would be scheduled onto and never pruned.
        Case{"NodeFromGit", "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
             "app.yaml:2:7: kind: Nodes are registered by their node daemons"},
        Case{"LeaseFromGit",
             "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: n, namespace: kube-node-lease}\n",
             "Leases are renewed by the node daemons"},
        Case{"EventFromGit", "apiVersion: v1\nkind: Event\nmetadata: {name: e}\n",
             "Events are recorded by bosun's controllers"},
        Case{"NotAMap", "- a\n- b\n", "a manifest must be a map"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// kubectl's --validate=strict: a misspelt field would otherwise be dropped
// and the object run with the default (one replica, not three).
TEST(Validation, AnUnknownFieldIsAnErrorWithASuggestion) {
  EXPECT_THAT(Errors(POD("  containers: [{name: a, image: x, imagePullPolcy: Always}]\n")),
              ElementsAre("app.yaml:5:52: spec.containers[0].imagePullPolcy: unknown field \"imagePullPolcy\" "
                          "(did you mean \"imagePullPolicy\"?)"));
  EXPECT_THAT(Warnings(POD("  containers: [{name: a, image: x, imagePullPolcy: Always}]\n")), IsEmpty());
}

TEST(Validation, TyposAreFoundAtEveryLevelOfAWorkload) {
  const std::string yaml = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  label: {app: web}
spec:
  replica: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      label: {app: web}
      labels: {app: web}
    spec:
      tolerations: [{key: k, operator: Exists, effects: NoSchedule}]
      volumes: [{name: data, emptyDri: {}}]
      containers:
        - name: web
          image: nginx
          volumeMounts: [{name: data, mountpath: /data}]
          securityContext: {runAsuser: 1000}
          env:
            - name: P
              valueFrom: {secretKeyref: {name: s, key: p}}
)";
  auto errors = Errors(yaml);
  for (const char* want :
       {"app.yaml:5:10: metadata.label: unknown field \"label\" (did you mean \"labels\"?)",
        "app.yaml:7:12: spec.replica: unknown field \"replica\" (did you mean \"replicas\"?)",
        "app.yaml:11:14: spec.template.metadata.label: unknown field \"label\" (did you mean \"labels\"?)",
        "app.yaml:14:57: spec.template.spec.tolerations[0].effects: unknown field \"effects\" (did you mean "
        "\"effect\"?)",
        "app.yaml:15:40: spec.template.spec.volumes[0].emptyDri: unknown field \"emptyDri\" (did you mean "
        "\"emptyDir\"?)",
        "app.yaml:19:50: spec.template.spec.containers[0].volumeMounts[0].mountpath: unknown field \"mountpath\" "
        "(did you mean \"mountPath\"?)",
        "app.yaml:20:40: spec.template.spec.containers[0].securityContext.runAsuser: unknown field \"runAsuser\" "
        "(did you mean \"runAsUser\"?)",
        "app.yaml:23:41: spec.template.spec.containers[0].env[0].valueFrom.secretKeyref: unknown field "
        "\"secretKeyref\" (did you mean \"secretKeyRef\"?)"}) {
    EXPECT_THAT(errors, ::testing::Contains(want));
  }
}

TEST(Validation, TyposInHooksProbesAndVolumeSourcesAreFound) {
  const std::string yaml = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  imagePullSecrets: [{nam: reg}]
  dnsConfig: {nameserver: [1.1.1.1]}
  volumes:
    - {name: c, configMap: {name: c, items: [{key: k, pth: p}]}}
    - {name: d, persistentVolumeClaim: {claimname: data}}
  containers:
    - name: a
      image: x
      volumeMounts: [{name: c, mountPath: /c}, {name: d, mountPath: /d}]
      livenessProbe: {tcpSocket: {port: 80, hots: h}}
      lifecycle:
        preStop: {sleep: {second: 5}}
        postStrat: {exec: {command: [x]}}
      securityContext: {capabilities: {dorp: [ALL]}}
)";
  auto errors = Errors(yaml);
  for (const char* field :
       {"spec.imagePullSecrets[0].nam:", "spec.dnsConfig.nameserver:", "spec.volumes[0].configMap.items[0].pth:",
        "spec.volumes[1].persistentVolumeClaim.claimname:", "spec.containers[0].livenessProbe.tcpSocket.hots:",
        "spec.containers[0].lifecycle.preStop.sleep.second:", "spec.containers[0].lifecycle.postStrat:",
        "spec.containers[0].securityContext.capabilities.dorp:"}) {
    EXPECT_THAT(errors, ::testing::Contains(HasSubstr(std::string(field) + " unknown field"))) << field;
  }
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr("spec.containers[0].lifecycle.preStop.sleep.seconds: required")));
}

// The sync's leave to replace an object (reconciler/plan.h kForceAnnotation)
// says yes or no, and the SyncConfig's spec.force is a boolean.
TEST(Validation, TheForceAnnotationIsTrueOrFalse) {
  EXPECT_THAT(Errors("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/force: \"yes\"}}\n",
                     "cm.yaml"),
              ElementsAre("cm.yaml:3:52: metadata.annotations[bosun.dev/force]: must be \"true\" or \"false\", not "
                          "\"yes\""));
  EXPECT_THAT(
      Errors("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/force: \"true\"}}\n"),
      IsEmpty());
  EXPECT_THAT(Errors("apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {force: \"true\"}\n",
                     "sync.yaml"),
              ElementsAre(HasSubstr("sync.yaml:4:15: spec.force: must be true or false")));
}

// bosun.dev/prune says yes or no; bosun.dev/ignore-fields and the
// SyncConfig's ignoreDifferences name fields that exist outside metadata
// and status, each error at its place.
TEST(Validation, PruneAndOwnedFieldsAreCheckedWhereTheyAreWritten) {
  EXPECT_THAT(Errors("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/prune: \"no\"}}\n",
                     "cm.yaml"),
              ElementsAre("cm.yaml:3:52: metadata.annotations[bosun.dev/prune]: must be \"true\" or \"false\", not "
                          "\"no\""));
  EXPECT_THAT(Errors("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/prune: \"false\", "
                     "bosun.dev/ignore-fields: \"data[k], data.x\"}}\n"),
              IsEmpty());
  EXPECT_THAT(
      Errors("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: {bosun.dev/ignore-fields: "
             "\"data.k, metadata.labels.a, data[x\"}}\n",
             "cm.yaml"),
      ElementsAre(HasSubstr("cm.yaml:3:60: metadata.annotations[bosun.dev/ignore-fields]: \"metadata.labels.a\": "
                            "metadata is not a field the cluster can own"),
                  HasSubstr("metadata.annotations[bosun.dev/ignore-fields]: \"data[x\" is not a field path: a '[' "
                            "without its ']' at character 5")));
  const std::string sync = "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec:\n";
  EXPECT_THAT(Errors(sync + "  ignoreDifferences:\n  - {kind: Deployment, fields: [spec.replicas]}\n"
                            "  - {group: apps, kind: Deployment, namespace: shop, name: web, fields: "
                            "['spec.template.spec.containers[*].resources']}\n"),
              IsEmpty());
  EXPECT_THAT(
      Errors(sync + "  ignoreDifferences:\n  - {kind: Deploymnet, fields: [status.replicas]}\n"
                    "  - {kind: Deployment, fields: []}\n  - {fields: [spec.x]}\n  - {kind: Job, field: [spec.x]}\n",
             "sync.yaml"),
      ElementsAre(HasSubstr("sync.yaml:6:12: spec.ignoreDifferences[0].kind: unknown kind \"Deploymnet\""),
                  HasSubstr("spec.ignoreDifferences[0].fields[0]: \"status.replicas\": status is not"),
                  HasSubstr("spec.ignoreDifferences[1].fields: must name at least one field"),
                  HasSubstr("spec.ignoreDifferences[2].kind: required"),
                  HasSubstr("spec.ignoreDifferences[3].fields: required"),
                  HasSubstr("spec.ignoreDifferences[3].field: unknown field \"field\" (did you mean \"fields\"?)")));
  // A group or namespace the kind cannot have would match nothing.
  EXPECT_THAT(Errors(sync + "  ignoreDifferences:\n  - {group: apps, kind: ConfigMap, fields: [data.x]}\n"
                            "  - {kind: Namespace, namespace: shop, fields: [spec.x]}\n"),
              ElementsAre(HasSubstr("spec.ignoreDifferences[0].group: ConfigMap is in group \"\" (the core group), not "
                                    "\"apps\""),
                          HasSubstr("spec.ignoreDifferences[1].namespace: Namespace is cluster-scoped")));
}

// A misspelt level of affinity or topology spread would be dropped, and the
// pod placed as if the rule were not there (bosun's scheduler honours
// nodeAffinity): each is found, with where.
TEST(Validation, TyposInAffinityTopologySpreadAndProjectedVolumesAreFound) {
  const std::string yaml = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x}]
  affinity:
    nodeAfinity: {}
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - {labelSelector: {matchLabels: {app: web}}, topologyKey: zone, namespace: [x]}
      preferredDuringSchedulingIgnoredDuringExecution:
        - {weight: 101, podAffinityTerm: {topologyKey: zone}}
  topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelecter: {}}
  readinessGates: [{condition: x}]
  volumes:
    - name: all
      projected:
        sources:
          - {configMap: {name: c}, secrets: {name: s}}
          - downwardAPI: {items: [{path: n, fieldRef: {feldPath: metadata.name}}]}
)";
  auto errors = Errors(yaml);
  for (const char* field : {"spec.affinity.nodeAfinity:",
                            "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
                            ".namespace:",
                            "spec.topologySpreadConstraints[0].labelSelecter:", "spec.readinessGates[0].condition:",
                            "spec.volumes[0].projected.sources[0].secrets:",
                            "spec.volumes[0].projected.sources[1].downwardAPI.items[0].fieldRef.feldPath:"}) {
    EXPECT_THAT(errors, ::testing::Contains(HasSubstr(std::string(field) + " unknown field"))) << field;
  }
  EXPECT_THAT(errors, ::testing::Contains(HasSubstr(
                          "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")));
}

// A SyncConfig's spec.path was accepted and did nothing: the folder
// followed is the server's --path. It says so, and is no error.
// An interval under a second is raised to 1s, with a warning (an error
// would refuse every commit of a repository that had one, after an upgrade).
TEST(Validation, ASyncConfigsIntervalUnderASecondIsAWarning) {
  const std::string cfg = "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: s}\nspec: {interval: 500ms}\n";
  EXPECT_THAT(Errors(cfg), IsEmpty());
  EXPECT_THAT(Warnings(cfg), ElementsAre(HasSubstr("warning: spec.interval: \"500ms\" is raised to 1s")));
}

TEST(Validation, ASyncConfigsPathSaysItIsNotUsed) {
  const std::string cfg =
      "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec:\n  path: deploy/\n";
  EXPECT_THAT(Errors(cfg), IsEmpty());
  EXPECT_THAT(Warnings(cfg),
              ElementsAre(HasSubstr("app.yaml:5:9: warning: spec.path: not used: the folder bosun follows is the "
                                    "server's --path")));
}

// What the sync does with the same set: the repository's SyncConfig may
// relax it, and a caller's mode (a CLI flag) overrides both.
TEST(Validation, ASyncConfigMayMakeUnknownFieldsWarningsOrNothing) {
  const std::string pod = POD("  containers: [{name: a, image: x, imagePullPolcy: Always}]\n");
  auto sync_config = [](const char* mode) {
    return std::string(
               "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: "
               "{fieldValidation: ") +
           mode + "}\n";
  };
  auto load = [&](const char* mode, std::optional<FieldValidation> flag = std::nullopt) {
    return LoadDesiredSet(std::vector<SourceFile>{{"pod.yaml", pod}, {"sync.yaml", sync_config(mode)}}, {}, flag);
  };
  DesiredSet warn = load("Warn");
  EXPECT_TRUE(warn.ok());
  EXPECT_EQ(warn.field_validation, FieldValidation::kWarn);
  ASSERT_EQ(warn.warnings(), 1u);
  EXPECT_THAT(warn.diagnostics[0].ToString(), HasSubstr("warning: spec.containers[0].imagePullPolcy: unknown field"));

  DesiredSet ignore = load("Ignore");
  EXPECT_TRUE(ignore.ok());
  EXPECT_THAT(ignore.diagnostics, IsEmpty());

  DesiredSet strict = load("Strict");
  EXPECT_EQ(strict.errors(), 1u);

  DesiredSet flagged = load("Ignore", FieldValidation::kStrict);
  EXPECT_EQ(flagged.errors(), 1u);
  EXPECT_EQ(flagged.field_validation, FieldValidation::kStrict);

  EXPECT_THAT(Errors(sync_config("Lax")),
              ElementsAre(HasSubstr("spec.fieldValidation: unsupported value \"Lax\": must be one of \"Strict\", "
                                    "\"Warn\", \"Ignore\"")));
}

// Strict is only right when bosun knows every field Kubernetes has: these
// are valid in Kubernetes 1.31 and must not be refused.
TEST(Validation, FieldsOfKubernetes131AreNotUnknown) {
  const std::string yaml = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
    - name: proxy
      image: x
      restartPolicy: Always
      readinessProbe: {tcpSocket: {port: 80}}
  containers: [{name: a, image: x}]
  volumes:
    - {name: disk, iscsi: {targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:storage", lun: 0}}
---
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  imagePullSecrets: [{name: reg}]
  hostAliases: [{ip: 10.0.0.1, hostnames: [db]}]
  dnsConfig: {nameservers: [10.0.0.2], searches: [svc], options: [{name: ndots, value: "2"}]}
  volumes:
    - {name: c, configMap: {name: c, items: [{key: k, path: p, mode: 0644}], defaultMode: 0600, optional: true}}
    - {name: d, persistentVolumeClaim: {claimName: data, readOnly: true}}
    - {name: nf, nfs: {server: nfs.local, path: /x, readOnly: true}}
    - {name: s, csi: {driver: x.csi, readOnly: true, fsType: ext4, volumeAttributes: {a: b}, nodePublishSecretRef: {name: s}}}
    - {name: w, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}], defaultMode: 0644}}
    - {name: j, projected: {sources: [{configMap: {name: c}}], defaultMode: 0644}}
  containers:
    - name: a
      image: x
      readinessProbe: {httpGet: {path: /, port: 80, httpHeaders: [{name: X, value: y}]}}
      livenessProbe: {grpc: {port: 9000, service: health}}
      startupProbe: {tcpSocket: {port: 80, host: localhost}}
      lifecycle:
        postStart: {exec: {command: [x]}}
        preStop: {sleep: {seconds: 5}}
      securityContext:
        capabilities: {add: [NET_ADMIN], drop: [ALL]}
        seccompProfile: {type: Localhost, localhostProfile: p.json}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  managedBy: kueue.x-k8s.io/multikueue
  successPolicy: {rules: [{succeededCount: 1}]}
  completionMode: Indexed
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: a, image: x}]
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec:
  trafficDistribution: PreferClose
  ports: [{port: 80}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
automountServiceAccountToken: false
imagePullSecrets: [{name: reg}]
---
apiVersion: v1
kind: Pod
metadata: {name: placed}
spec:
  containers: [{name: a, image: x}]
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions: [{key: zone, operator: In, values: [a]}]
            matchFields: [{key: metadata.name, operator: NotIn, values: [n1]}]
      preferredDuringSchedulingIgnoredDuringExecution:
        - {weight: 10, preference: {matchExpressions: [{key: disk, operator: Exists}]}}
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - labelSelector: {matchLabels: {app: db}}
          topologyKey: zone
          namespaces: [data]
          namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}
          matchLabelKeys: [pod-template-hash]
          mismatchLabelKeys: [tenant]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm: {labelSelector: {matchLabels: {app: web}}, topologyKey: kubernetes.io/hostname}
  topologySpreadConstraints:
    - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: web}},
       minDomains: 2, nodeAffinityPolicy: Honor, nodeTaintsPolicy: Ignore, matchLabelKeys: [pod-template-hash]}
  readinessGates: [{conditionType: example.com/ready}]
  schedulingGates: [{name: example.com/wait}]
  resourceClaims: [{name: gpu, resourceClaimTemplateName: gpu}]
  os: {name: linux}
  volumes:
    - name: all
      projected:
        sources:
          - secret: {name: s, items: [{key: k, path: p}], optional: true}
          - configMap: {name: c, optional: false}
          - downwardAPI: {items: [{path: cpu, resourceFieldRef: {containerName: a, resource: limits.cpu, divisor: 1m}}]}
          - serviceAccountToken: {audience: vault, expirationSeconds: 3600, path: token}
          - clusterTrustBundle: {signerName: example.com/ca, labelSelector: {matchLabels: {a: b}}, path: ca.pem}
    - name: info
      downwardAPI: {items: [{path: name, fieldRef: {apiVersion: v1, fieldPath: metadata.name}, mode: 0444}]}
)";
  EXPECT_THAT(Errors(yaml), IsEmpty());
  EXPECT_THAT(Errors(POD("  initContainers: [{name: i, image: x, livenessProbe: {tcpSocket: {port: 1}}}]\n"
                         "  containers: [{name: a, image: x}]\n")),
              ElementsAre(HasSubstr("spec.initContainers[0].livenessProbe: may not be set for init containers "
                                    "without restartPolicy=Always")));
}

TEST(Validation, PlainSecretIsAWarningAndValuesNeverAppearInMessages) {
  const char* yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: 'hunter2!!'}\n";
  auto w = Warnings(yaml);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0], HasSubstr("seal it with `bosun seal`"));
  for (const auto& e : Errors(yaml)) EXPECT_THAT(e, ::testing::Not(HasSubstr("hunter2")));
}

TEST(Validation, DuplicateObjectsAcrossFilesAreRefused) {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{
      {"a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"},
      {"b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n"},
      {"c.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n"},
  });
  ASSERT_EQ(set.errors(), 1u);
  EXPECT_EQ(set.diagnostics[0].ToString(),
            "b.yaml:4:9: metadata.name: duplicate object: ConfigMap default/c is also defined at a.yaml:3");
}

// A second SyncConfig would be silently ignored (the first one's settings
// are in force): it is an error, named and placed.
TEST(Validation, ASecondSyncConfigIsRefused) {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{
      {"a.yaml", "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata: {name: default}\nspec: {prune: true}\n"},
      {"b.yaml", "apiVersion: bosun.dev/v1\nkind: SyncConfig\nmetadata:\n  name: other\nspec: {prune: false}\n"},
  });
  ASSERT_EQ(set.errors(), 1u);
  EXPECT_EQ(set.diagnostics[0].ToString(),
            "b.yaml:4:9: metadata.name: a second SyncConfig (other): the repository's settings are in SyncConfig "
            "default at a.yaml:3; keep one");
}

// LoadFiles keeps each file's objects and diagnostics apart, in the order
// given (for 600 files: on every core), and leaves the duplicate check to
// a caller that has every file.
TEST(Validation, LoadFilesGivesEachFileItsOwnResultInOrder) {
  std::vector<SourceFile> files;
  for (int i = 0; i < 600; ++i) {
    files.push_back({"f" + std::to_string(i) + ".yaml",
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c" + std::to_string(i) + "}\n---\n"
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"});
  }
  files[300].content = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c\n";
  std::vector<LoadedFile> loaded = LoadFiles(files);
  ASSERT_EQ(loaded.size(), files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(loaded[i].bytes, files[i].content.size());
    if (i == 300) {
      EXPECT_TRUE(loaded[i].objects.empty());
      ASSERT_EQ(loaded[i].diagnostics.size(), 1u);
      EXPECT_EQ(loaded[i].diagnostics[0].file, "f300.yaml");
      continue;
    }
    ASSERT_EQ(loaded[i].objects.size(), 2u);
    EXPECT_EQ(loaded[i].objects[0].object.name(), "c" + std::to_string(i));
    EXPECT_EQ(loaded[i].objects[0].file, files[i].name);
    EXPECT_THAT(loaded[i].diagnostics, IsEmpty());  // "same" in every file: not checked here
  }
  // LoadDesiredSet, over the same files, reports the 598 duplicates and the syntax error.
  EXPECT_EQ(LoadDesiredSet(files).errors(), 599u);
}

// Duplicate keys stop no later than the end of their file: each is its own
// error with its line, column and field path (-o json has the field).
TEST(Validation, EveryDuplicateKeyIsItsOwnErrorWithAFieldPath) {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{
      {"cm.yaml",
       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: {app: a, app: b}\n"
       "data:\n  k: '1'\n  k: '2'\n"},
      {"good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"},
  });
  ASSERT_EQ(set.errors(), 2u);
  EXPECT_EQ(set.diagnostics[0].ToString(),
            "cm.yaml:5:20: metadata.labels.app: duplicate key \"app\" (first defined at line 5, column 12)");
  EXPECT_EQ(set.diagnostics[0].field, "metadata.labels.app");
  EXPECT_EQ(set.diagnostics[1].ToString(),
            "cm.yaml:8:3: data.k: duplicate key \"k\" (first defined at line 7, column 3)");
  EXPECT_EQ(set.diagnostics[1].ToJson()["field"], "data.k");
  EXPECT_EQ(set.objects.size(), 1u);  // the file is refused; the other is still read
}

TEST(Validation, SyntaxErrorsAreLocatedAndOtherFilesStillChecked) {
  DesiredSet set = LoadDesiredSet(std::vector<SourceFile>{
      {"bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c\n"},
      {"good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"},
  });
  ASSERT_EQ(set.errors(), 1u);
  EXPECT_EQ(set.diagnostics[0].file, "bad.yaml");
  EXPECT_TRUE(set.diagnostics[0].pos.known());
  EXPECT_EQ(set.objects.size(), 1u);
  EXPECT_EQ(set.objects[0].object.name(), "d");
}

}  // namespace
}  // namespace bosun
