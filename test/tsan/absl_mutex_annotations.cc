// ThreadSanitizer build only (PROPSY_TSAN): makes Debian's uninstrumented
// absl::Mutex and absl::CondVar visible to TSan.
//
// Why: the Debian absl library is not built with TSan, so TSan sees none of
// its synchronization and would report every access guarded by an
// absl::Mutex as a race. This file interposes the public lock, unlock, wait
// and condition entry points (the executable's definitions win over the
// shared library's, for ProPsy's calls and for gRPC's alike), calls the real
// ones through dlsym(RTLD_NEXT) and tells TSan what happened with its mutex
// annotation API, mirroring what absl does in a TSan build of its own
// (absl/synchronization/mutex.cc, EvalConditionAnnotated): a condition is
// evaluated as if its thread held the mutex, whichever thread absl runs it
// on.

// These definitions stand in for annotated absl functions; the lock
// analysis cannot follow them (they only forward).
#pragma clang diagnostic ignored "-Wthread-safety-analysis"

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"

namespace {

#define PROPSY_STR2(x) #x
#define PROPSY_STR(x) PROPSY_STR2(x)

// "_ZN4absl" + <inline namespace> + rest, as the Itanium ABI mangles it.
std::string Mangled(const char* rest) {
  const std::string ns = PROPSY_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
}

template <typename Fn>
Fn Real(const char* rest) {
  const std::string name = Mangled(rest);
  void* symbol = dlsym(RTLD_NEXT, name.c_str());
  if (symbol == nullptr) {
    std::fprintf(stderr, "tsan absl shim: %s not found: %s\n", name.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

// Mutex operations in progress on this thread, innermost last: a condition
// absl evaluates here is evaluated inside one of them.
struct Operation {
  const absl::Mutex* mu;
  bool locking;  // LockWhen-like (acquiring); otherwise releasing
  unsigned flags;
};
thread_local std::vector<Operation> operations;

// Public absl functions call each other (AwaitWithTimeout calls
// AwaitWithDeadline): only the outermost call on a thread is annotated.
thread_local int shim_depth = 0;
struct ShimScope {
  ShimScope() { ++shim_depth; }
  ~ShimScope() { --shim_depth; }
  ShimScope(const ShimScope&) = delete;
  ShimScope& operator=(const ShimScope&) = delete;
};

struct OperationScope {
  OperationScope(const absl::Mutex* mu, bool locking, unsigned flags) {
    operations.push_back({mu, locking, flags});
  }
  ~OperationScope() { operations.pop_back(); }
};

struct WrappedCondition {
  const absl::Condition* inner;
  absl::Mutex* mu;
};

// Evaluates the user's condition with TSan believing this thread holds the
// mutex, then returns to the state of the operation in progress.
bool EvalAnnotated(WrappedCondition* wrapped) {
  void* mu = wrapped->mu;
  const Operation* op = nullptr;
  for (auto it = operations.rbegin(); it != operations.rend(); ++it) {
    if (it->mu == wrapped->mu) {
      op = &*it;
      break;
    }
  }
  if (op == nullptr) return wrapped->inner->Eval();  // not expected; stay safe
  bool result;
  if (op->locking) {
    __tsan_mutex_post_lock(mu, op->flags, 0);
    result = wrapped->inner->Eval();
    __tsan_mutex_pre_unlock(mu, op->flags);
    __tsan_mutex_post_unlock(mu, op->flags);
    __tsan_mutex_pre_lock(mu, op->flags);
  } else {
    __tsan_mutex_post_unlock(mu, op->flags);
    __tsan_mutex_pre_lock(mu, op->flags);
    __tsan_mutex_post_lock(mu, op->flags, 0);
    result = wrapped->inner->Eval();
    __tsan_mutex_pre_unlock(mu, op->flags);
  }
  return result;
}

absl::Condition Wrap(WrappedCondition* wrapped) { return absl::Condition(&EvalAnnotated, wrapped); }

constexpr unsigned kRead = __tsan_mutex_read_lock;

// absl's deadlock detector keeps a global lock graph behind its own
// spinlock, which TSan cannot see either; the propsy binary turns the
// detector off too (main.cc), so TSan runs do the same.
const bool deadlock_detection_off = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  static auto real = Real<void (*)(Mutex*)>("5MutexD2Ev");
  __tsan_mutex_destroy(this, 0);  // the memory may hold another mutex later
  real(this);
}

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  __tsan_mutex_pre_lock(this, kRead);
  real(this);
  __tsan_mutex_post_lock(this, kRead, 0);
}

bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  __tsan_mutex_pre_lock(this, kRead | __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this, kRead | __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  return locked;
}

void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  OperationScope scope(this, false, 0);
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  if (shim_depth > 0) return real(this);
  ShimScope shim;
  OperationScope scope(this, false, kRead);
  __tsan_mutex_pre_unlock(this, kRead);
  real(this);
  __tsan_mutex_post_unlock(this, kRead);
}

// Await*: the mutex is released while waiting and held again on return.
namespace {
template <typename Call>
bool AwaitAnnotated(Mutex* mu, const Condition& cond, Call call) {
  WrappedCondition wrapped{&cond, mu};
  const Condition condition = Wrap(&wrapped);
  bool result;
  {
    OperationScope scope(mu, false, 0);
    __tsan_mutex_pre_unlock(mu, 0);
    result = call(condition);
    __tsan_mutex_post_unlock(mu, 0);
  }
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

template <typename Call>
bool LockWhenAnnotated(Mutex* mu, const Condition& cond, unsigned flags, Call call) {
  WrappedCondition wrapped{&cond, mu};
  const Condition condition = Wrap(&wrapped);
  OperationScope scope(mu, true, flags);
  __tsan_mutex_pre_lock(mu, flags);
  const bool result = call(condition);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}
}  // namespace

void Mutex::Await(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  if (shim_depth > 0) return real(this, cond);
  ShimScope shim;
  AwaitAnnotated(this, cond, [&](const Condition& c) {
    real(this, c);
    return true;
  });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  if (shim_depth > 0) return real(this, cond, timeout);
  ShimScope shim;
  return AwaitAnnotated(this, cond, [&](const Condition& c) { return real(this, c, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  if (shim_depth > 0) return real(this, cond, deadline);
  ShimScope shim;
  return AwaitAnnotated(this, cond, [&](const Condition& c) { return real(this, c, deadline); });
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  if (shim_depth > 0) return real(this, cond);
  ShimScope shim;
  LockWhenAnnotated(this, cond, 0, [&](const Condition& c) {
    real(this, c);
    return true;
  });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  if (shim_depth > 0) return real(this, cond, timeout);
  ShimScope shim;
  return LockWhenAnnotated(this, cond, 0,
                           [&](const Condition& c) { return real(this, c, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  if (shim_depth > 0) return real(this, cond, deadline);
  ShimScope shim;
  return LockWhenAnnotated(this, cond, 0,
                           [&](const Condition& c) { return real(this, c, deadline); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  if (shim_depth > 0) return real(this, cond);
  ShimScope shim;
  LockWhenAnnotated(this, cond, kRead, [&](const Condition& c) {
    real(this, c);
    return true;
  });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  if (shim_depth > 0) return real(this, cond, timeout);
  ShimScope shim;
  return LockWhenAnnotated(this, cond, kRead,
                           [&](const Condition& c) { return real(this, c, timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  if (shim_depth > 0) return real(this, cond, deadline);
  ShimScope shim;
  return LockWhenAnnotated(this, cond, kRead,
                           [&](const Condition& c) { return real(this, c, deadline); });
}

// CondVar waits release the mutex while waiting, like Await.
namespace {
template <typename Call>
bool CondVarWaitAnnotated(Mutex* mu, Call call) {
  bool result;
  {
    OperationScope scope(mu, false, 0);
    __tsan_mutex_pre_unlock(mu, 0);
    result = call();
    __tsan_mutex_post_unlock(mu, 0);
  }
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}
}  // namespace

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  if (shim_depth > 0) return real(this, mu);
  ShimScope shim;
  CondVarWaitAnnotated(mu, [&] {
    real(this, mu);
    return true;
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  if (shim_depth > 0) return real(this, mu, timeout);
  ShimScope shim;
  return CondVarWaitAnnotated(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  if (shim_depth > 0) return real(this, mu, deadline);
  ShimScope shim;
  return CondVarWaitAnnotated(mu, [&] { return real(this, mu, deadline); });
}

ABSL_NAMESPACE_END
}  // namespace absl
