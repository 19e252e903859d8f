#include "host/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace spinfer::host {
namespace {

// One parallel_for call, on the caller's stack: the items, the next one to hand out, and
// how many pool workers took it (`picked`) and are done with it (`finished`).
struct Job {
  const std::function<void(int64_t)>* body = nullptr;
  int64_t count = 0;
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  std::condition_variable all_finished;
  int picked = 0, finished = 0;  // picked: written under the pool's mutex, read under both
  std::exception_ptr error;

  void run_items() {
    for (int64_t i; (i = next.fetch_add(1)) < count;) {
      try {
        (*body)(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
        next.store(count);  // stop handing out work
      }
    }
  }
};

// Workers started once per process, on first use, and kept: starting threads on every
// call cost more than a small SpMM itself. A call offers its job to up to `threads - 1`
// workers through a fixed ring (no allocation per call) and works on it too; when it has
// run out of items it withdraws the offers no worker took and waits only for the workers
// that did, so it never waits on another call's work, and nested calls cannot deadlock.
class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool();  // never destroyed: detached workers wait on it
    return *pool;
  }
  int workers() const { return workers_; }

  int offer(Job* job, int copies) {
    int offered = 0;
    {
      std::lock_guard lock(mutex_);
      for (; offered < copies && size_ < kRing; ++offered) ring_[(head_ + size_++) % kRing] = job;
    }
    if (offered == 1) ready_.notify_one();
    else if (offered > 1) ready_.notify_all();
    return offered;
  }
  void withdraw(Job* job) {
    std::lock_guard lock(mutex_);
    int kept = 0;
    for (int i = 0; i < size_; ++i) {
      Job* j = ring_[(head_ + i) % kRing];
      if (j != job) ring_[(head_ + kept++) % kRing] = j;
    }
    size_ = kept;
  }

 private:
  static constexpr int kRing = 256;

  Pool() {
    const int n = int(std::max(1u, std::thread::hardware_concurrency())) - 1;
    for (int i = 0; i < n; ++i) {
      try {
        std::thread([this] { loop(); }).detach();
        ++workers_;
      } catch (...) {
        break;  // resource limits: fewer workers (callers still do all the work)
      }
    }
  }
  void loop() {
    for (;;) {
      Job* job;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return size_ > 0; });
        job = ring_[head_];
        head_ = (head_ + 1) % kRing;
        --size_;
        std::lock_guard job_lock(job->mutex);
        ++job->picked;
      }
      job->run_items();
      std::lock_guard job_lock(job->mutex);
      if (++job->finished == job->picked) job->all_finished.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  Job* ring_[kRing] = {};
  int head_ = 0, size_ = 0;
  int workers_ = 0;
};

}  // namespace

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

void parallel_for(int64_t count, int threads, const std::function<void(int64_t)>& body) {
  if (count <= 0) return;
  const int64_t helpers = std::min<int64_t>(resolve_threads(threads), count) - 1;
  Job job;
  job.body = &body;
  job.count = count;
  Pool* pool = nullptr;
  if (helpers > 0) {
    try {
      pool = &Pool::instance();
      pool->offer(&job, int(std::min<int64_t>(helpers, pool->workers())));
    } catch (...) {
      pool = nullptr;  // no memory for the pool: this thread does all the work
    }
  }
  job.run_items();
  if (pool) {
    pool->withdraw(&job);
    std::unique_lock lock(job.mutex);
    job.all_finished.wait(lock, [&] { return job.finished == job.picked; });
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace spinfer::host
