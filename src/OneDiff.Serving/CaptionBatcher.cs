using System.Diagnostics;
using OneDiff.MLNet;

namespace OneDiff.Serving;

/// <summary>
/// The one place the model is used. Requests wait in a bounded queue; one thread loads the model,
/// then takes the requests that can share a batch (up to <see cref="ServingOptions.MaxBatch"/>,
/// waiting at most <see cref="ServingOptions.MaxWaitMilliseconds"/> after the oldest arrived) and
/// captions them together through the batched decoder, each with its own settings. Nothing else
/// touches the model, so nothing relies on the transformer being thread-safe.
/// </summary>
internal sealed class CaptionBatcher : IDisposable
{
    readonly ServingOptions _options;
    readonly ServerMetrics _metrics;
    readonly Func<DiffCaptionTransformer> _load;
    readonly object _gate = new();
    readonly LinkedList<PendingCaption> _queue = new();
    readonly TaskCompletionSource<DiffCaptionTransformer> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Thread _worker;
    bool _stopping, _paused;
    double _batchSeconds = 0.1;

    public CaptionBatcher(Func<DiffCaptionTransformer> load, ServingOptions options, ServerMetrics metrics)
    {
        _load = load;
        _options = options;
        _metrics = metrics;
        _worker = new Thread(Run) { IsBackground = true, Name = "onediff model" };
        _worker.Start();
    }

    /// <summary>The model, once loaded (faults when it could not be loaded).</summary>
    public Task<DiffCaptionTransformer> Ready => _ready.Task;

    public int Waiting { get { lock (_gate) return _queue.Count; } }

    /// <summary>Queues a request; an <see cref="Protocol.ApiError"/> 429 when the queue is full.</summary>
    public void Enqueue(PendingCaption pending)
    {
        lock (_gate)
        {
            if (_stopping) throw new Protocol.ApiError(503, "server_error", "shutting_down", "the server is shutting down") { RetryAfterSeconds = 1 };
            if (_queue.Count >= _options.MaxQueue)
            {
                int batchesAhead = (_queue.Count + _options.MaxBatch - 1) / _options.MaxBatch + 1;
                throw new Protocol.ApiError(429, "rate_limit_error", "queue_full", $"the queue is full ({_queue.Count} requests waiting); retry later")
                    { RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling(batchesAhead * _batchSeconds)) };
            }
            pending.Node = _queue.AddLast(pending);
            _metrics.QueueLength.Set(_queue.Count);
            Monitor.PulseAll(_gate);
        }
        // A client that goes away while waiting gives its place back at once.
        pending.ClientGone.Register(() =>
        {
            bool removed;
            lock (_gate)
            {
                removed = pending.Node?.List is not null;
                if (removed) { _queue.Remove(pending.Node!); _metrics.QueueLength.Set(_queue.Count); }
            }
            if (removed) pending.Fail(new OperationCanceledException(pending.ClientGone));
        });
    }

    /// <summary>Holds the batches back (the queue still fills): lets tests hold the queue full.</summary>
    internal void Pause() { lock (_gate) _paused = true; }
    internal void Resume() { lock (_gate) { _paused = false; Monitor.PulseAll(_gate); } }

    void Run()
    {
        DiffCaptionTransformer model;
        try { model = _load(); _ready.SetResult(model); }
        catch (Exception e) { _ready.SetException(e); FailWaiting(e); return; }
        try
        {
            while (NextBatch() is { } batch) Caption(model, batch);
        }
        finally { model.Dispose(); }
    }

    /// <summary>Waits for the next batch; null when stopping.</summary>
    List<PendingCaption>? NextBatch()
    {
        lock (_gate)
        {
            while (true)
            {
                if (_stopping) return null;
                if (_queue.Count == 0 || _paused) { Monitor.Wait(_gate); continue; }
                var head = _queue.First!.Value;
                var compatible = _queue.Where(p => p.BatchKey == head.BatchKey).Take(_options.MaxBatch).ToList();
                var waited = Stopwatch.GetElapsedTime(head.EnqueuedAt);
                var left = TimeSpan.FromMilliseconds(_options.MaxWaitMilliseconds) - waited;
                if (compatible.Count < _options.MaxBatch && left > TimeSpan.Zero) { Monitor.Wait(_gate, left); continue; }
                foreach (var p in compatible) _queue.Remove(p.Node!);
                _metrics.QueueLength.Set(_queue.Count);
                return compatible;
            }
        }
    }

    void Caption(DiffCaptionTransformer model, List<PendingCaption> batch)
    {
        // Gone while the batch was gathered: not decoded at all.
        batch.RemoveAll(p =>
        {
            if (!p.ClientGone.IsCancellationRequested) return false;
            p.Fail(new OperationCanceledException(p.ClientGone));
            return true;
        });
        if (batch.Count == 0) return;
        var clock = Stopwatch.StartNew();
        try
        {
            var outcomes = model.Caption(batch.Select(p => p.ToRequest()).ToList(), batch[0].NumBeams, batch[0].ChangeMap);
            double seconds = clock.Elapsed.TotalSeconds;
            _batchSeconds = 0.8 * _batchSeconds + 0.2 * seconds;
            _metrics.Batch(batch.Count, seconds, outcomes.Sum(o => o.PromptTokens), outcomes.Sum(o => o.CompletionTokens));
            for (int i = 0; i < batch.Count; i++) batch[i].Complete(outcomes[i]);
        }
        catch (Exception e)
        {
            foreach (var p in batch) p.Fail(e);
        }
    }

    void FailWaiting(Exception e)
    {
        List<PendingCaption> left;
        lock (_gate) { left = [.. _queue]; _queue.Clear(); _metrics.QueueLength.Set(0); }
        foreach (var p in left) p.Fail(e);
    }

    /// <summary>Stops after the running batch; requests still waiting are answered 503; the model is disposed.</summary>
    public void Dispose()
    {
        lock (_gate) { _stopping = true; Monitor.PulseAll(_gate); }
        _worker.Join();
        FailWaiting(new Protocol.ApiError(503, "server_error", "shutting_down", "the server is shutting down"));
    }
}
