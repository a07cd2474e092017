#include "state/replicated_service.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/log.h"

namespace bosun::state {
namespace fs = std::filesystem;

namespace {

constexpr char kPackMagic[8] = {'B', 'O', 'S', 'N', 'S', 'N', 'P', '1'};
const char* kMembersPrefix = "/bosun/members/";

void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

bool GetU64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) *v = (*v << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
  in.remove_prefix(8);
  return true;
}

std::string TempDirBeside(const std::string& base, const char* what) {
  static std::atomic<uint64_t> counter{0};
  return base + "/." + what + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

Result<std::string> PackDirectory(const std::string& dir) {
  std::string out(kPackMagic, sizeof kPackMagic);
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  if (ec) return Error(Code::kIo, dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  PutU64(out, files.size());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof()) return Error(Code::kIo, f.string() + ": read failed");
    std::string name = f.filename().string();
    std::string data = ss.str();
    PutU64(out, name.size());
    out += name;
    PutU64(out, data.size());
    out += data;
  }
  return out;
}

Status UnpackDirectory(std::string_view in, const std::string& dir) {
  if (in.size() < sizeof kPackMagic || std::memcmp(in.data(), kPackMagic, sizeof kPackMagic) != 0) {
    return Error(Code::kInvalid, "snapshot is not a bosun store snapshot");
  }
  in.remove_prefix(sizeof kPackMagic);
  uint64_t n;
  if (!GetU64(in, &n)) return Error(Code::kInvalid, "snapshot truncated");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(Code::kIo, dir + ": " + ec.message());
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t len;
    if (!GetU64(in, &len) || len > in.size() || len == 0 || len > 4096) return Error(Code::kInvalid, "snapshot corrupt");
    std::string name(in.substr(0, len));
    in.remove_prefix(len);
    if (name.find('/') != std::string::npos || name == "." || name == "..") {
      return Error(Code::kInvalid, "snapshot names a file outside its folder");
    }
    if (!GetU64(in, &len) || len > in.size()) return Error(Code::kInvalid, "snapshot corrupt");
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(in.data(), static_cast<std::streamsize>(len));
    if (!out) return Error(Code::kIo, dir + "/" + name + ": write failed");
    in.remove_prefix(len);
  }
  return Ok();
}

std::string MemberRecordKey(uint64_t id) { return kMembersPrefix + std::to_string(id); }

std::string MemberRecord(uint64_t id, const std::string& raft_address, const std::string& api_url,
                         const std::string& settings) {
  nlohmann::json rec = nlohmann::json::object();
  if (!settings.empty()) {
    rec = nlohmann::json::parse(settings, nullptr, false);
    if (!rec.is_object()) rec = nlohmann::json::object();
  }
  rec["id"] = id;
  rec["raftAddress"] = raft_address;
  rec["apiUrl"] = api_url;
  return rec.dump();
}

void AddMemberSettings(const std::string& settings, nlohmann::json* item) {
  if (settings.empty()) return;
  const auto j = nlohmann::json::parse(settings, nullptr, false);
  if (!j.is_object()) return;
  for (const char* k : {"encryptionKeyId", "gitops"}) {
    if (j.contains(k)) (*item)[k] = j[k];
  }
}

std::string MemberSettingsOf(const std::string& record) {
  auto j = nlohmann::json::parse(record, nullptr, false);
  if (!j.is_object()) return "";
  for (const char* k : {"id", "raftAddress", "apiUrl"}) j.erase(k);
  return j.empty() ? "" : j.dump();
}

ReplicatedService::ReplicatedService(ReplicatedServiceOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<ReplicatedService>> ReplicatedService::Start(const ReplicatedServiceOptions& options) {
  std::unique_ptr<ReplicatedService> s(new ReplicatedService(options));
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) return Error(Code::kIo, options.data_dir + ": " + ec.message());
  StoreOptions so;
  so.sync = false;  // the Raft log is the durable record
  auto store = Store::Open(options.data_dir + "/store", so);
  if (!store) return store.error();
  s->store_ = std::move(*store);
  ReplicatorOptions ro = options.raft;
  if (ro.dir.empty()) ro.dir = options.data_dir + "/raft";
  fs::create_directories(ro.dir, ec);
  auto rep = Replicator::Start(ro, s.get());
  if (!rep) return rep.error();
  s->replicator_ = std::move(*rep);
  return s;
}

ReplicatedService::~ReplicatedService() { Stop(); }

void ReplicatedService::Stop() {
  if (replicator_) replicator_->Stop();
}

void ReplicatedService::Write(Txn txn, std::function<void(Result<TxnResult>)> done) {
  if (Status valid = ValidateTxn(txn); !valid) return done(valid.error());  // never into the log
  replicator_->Propose(EncodeTxn(txn), [this, done = std::move(done)](Result<std::string> r) {
    if (!r) {
      std::string msg = r.error().message();
      if (r.error().code() == Code::kUnavailable) {
        if (auto url = LeaderApiUrl()) msg += " (leader API: " + *url + ")";
      }
      done(Error(r.error().code(), msg));
      return;
    }
    done(DecodeTxnResult(*r));
  });
}

void ReplicatedService::ReadBarrier(ReadConsistency c, std::function<void(Status)> done) {
  if (c == ReadConsistency::kSerializable) {
    done(Ok());
    return;
  }
  // The only voter, leading, has applied every write it acknowledged (Propose
  // answers after the local apply) and no other member can have committed
  // anything, so its state is already linearizable: skip the barrier, which
  // would append and fsync a log entry per read.
  if (replicator_->IsLeader()) {
    int voters = 0;
    for (const MemberStatus& m : replicator_->Members()) voters += m.member.voter ? 1 : 0;
    if (voters == 1) {
      done(Ok());
      return;
    }
  }
  replicator_->Barrier(std::move(done));
}

bool ReplicatedService::IsLeader() const { return replicator_->IsLeader(); }

std::string ReplicatedService::ApiUrlOf(uint64_t id) const {
  auto kv = store_->Get(MemberRecordKey(id));
  if (kv) {
    auto j = nlohmann::json::parse(kv->value, nullptr, false);
    if (j.is_object() && j.value("apiUrl", "") != "") return j["apiUrl"].get<std::string>();
  }
  auto it = options_.peer_api_urls.find(id);
  if (it != options_.peer_api_urls.end()) return it->second;
  if (id == options_.raft.id) return options_.api_url;
  return "";
}

std::optional<std::string> ReplicatedService::LeaderApiUrl() const {
  if (replicator_->IsLeader()) return std::nullopt;
  auto leader = replicator_->Leader();
  if (!leader) return std::nullopt;
  std::string url = ApiUrlOf(leader->id);
  if (url.empty()) return std::nullopt;
  return url;
}

std::vector<MemberInfo> ReplicatedService::Members() const {
  std::vector<MemberInfo> out;
  for (const MemberStatus& m : replicator_->Members()) {
    MemberInfo info;
    info.id = m.member.id;
    info.raft_address = m.member.address;
    info.api_url = ApiUrlOf(m.member.id);
    if (auto kv = store_->Get(MemberRecordKey(m.member.id))) info.settings = MemberSettingsOf(kv->value);
    info.role = m.role;
    info.is_leader = m.is_leader;
    info.is_self = m.member.id == replicator_->Id();
    if (info.is_self) info.applied_index = replicator_->LastApplied();
    out.push_back(std::move(info));
  }
  return out;
}

Status ReplicatedService::PublishSelf() {
  std::string rec = MemberRecord(options_.raft.id, options_.raft.address, options_.api_url, options_.settings);
  std::string key = MemberRecordKey(options_.raft.id);
  auto current = store_->Get(key);
  if (current && current->value == rec) return Ok();
  Txn txn;
  txn.ops.push_back(Op{Op::Kind::kPut, key, rec});
  auto r = WriteSync(std::move(txn));
  if (!r) return r.error();
  return Ok();
}

Result<std::string> ReplicatedService::Apply(uint64_t index, std::string_view command) {
  auto txn = DecodeTxn(command);
  if (!txn) return txn.error().Wrap("raft entry " + std::to_string(index));
  auto r = store_->Apply(*txn, index);
  if (!r) return r.error();
  return EncodeTxnResult(*r);
}

Result<std::vector<std::string>> ReplicatedService::ApplyBatch(const std::vector<CommittedCommand>& commands) {
  std::vector<IndexedTxn> txns(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    auto txn = DecodeTxn(commands[i].command);
    if (!txn) return txn.error().Wrap("raft entry " + std::to_string(commands[i].index));
    txns[i].txn = std::move(*txn);
    txns[i].raft_index = commands[i].index;
  }
  auto results = store_->ApplyBatch(txns);
  if (!results) return results.error();
  std::vector<std::string> out;
  out.reserve(results->size());
  for (const TxnResult& r : *results) out.push_back(EncodeTxnResult(r));
  return out;
}

uint64_t ReplicatedService::AppliedIndex() const { return store_->applied_index(); }

Status ReplicatedService::MakeDurable() { return store_->Sync(); }

Result<std::string> ReplicatedService::TakeSnapshot() {
  std::string dir = TempDirBeside(options_.data_dir, "snapshot");
  auto st = store_->Checkpoint(dir);
  if (!st) return st.error();
  auto packed = PackDirectory(dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (packed) {
    log::Info("state", "state packed for a snapshot", {{"revision", std::to_string(store_->revision())},
                                          {"bytes", std::to_string(packed->size())}});
  }
  return packed;
}

Status ReplicatedService::RestoreSnapshot(std::string_view snapshot) {
  std::string dir = TempDirBeside(options_.data_dir, "restore");
  auto st = UnpackDirectory(snapshot, dir);
  if (st) st = store_->Restore(dir);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (st) log::Info("state", "snapshot restored", {{"revision", std::to_string(store_->revision())}});
  return st;
}

}  // namespace bosun::state
