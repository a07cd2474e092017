#include "state/service.h"

#include <future>

namespace bosun::state {

Result<TxnResult> StateService::WriteSync(Txn txn) {
  std::promise<Result<TxnResult>> p;
  auto f = p.get_future();
  Write(std::move(txn), [&p](Result<TxnResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

Status StateService::ReadBarrierSync(ReadConsistency c) {
  std::promise<Status> p;
  auto f = p.get_future();
  ReadBarrier(c, [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

LocalService::LocalService(std::unique_ptr<Store> store) : store_(std::move(store)) {}

void LocalService::Write(Txn txn, std::function<void(Result<TxnResult>)> done) {
  done(store_->Apply(txn, 0));
}

void LocalService::ReadBarrier(ReadConsistency, std::function<void(Status)> done) { done(Ok()); }

std::vector<MemberInfo> LocalService::Members() const {
  MemberInfo self;
  self.id = 1;
  self.role = "leader";
  self.is_leader = true;
  self.is_self = true;
  self.applied_index = store_->applied_index();
  return {self};
}

}  // namespace bosun::state
