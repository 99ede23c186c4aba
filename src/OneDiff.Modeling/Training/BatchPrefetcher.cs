namespace OneDiff.Modeling.Training;

/// <summary>
/// Loads the images of the coming micro-batches on worker threads while the device trains on the
/// current one, a bounded number of pairs ahead, so that host memory holds a window of the data
/// rather than all of it and a step never waits on decoding that could have run before it.
/// </summary>
sealed class BatchPrefetcher
{
    readonly IReadOnlyList<TrainingExample> _examples;
    readonly IEnumerator<int[]> _batches;
    readonly int _batchesAhead;
    // With cached vision features a pair's images are needed only the first time it is seen.
    readonly HashSet<TrainingImages>? _scheduled;
    readonly Queue<(int[] Ids, Task<Dictionary<TrainingImages, (float[] Image1, float[] Image2)>> Images)> _queue = new();

    /// <param name="batches">The micro-batches in training order (example indices; may be empty).</param>
    /// <param name="pairsAhead">About how many pairs to have loaded or loading beyond the current batch.</param>
    /// <param name="loadOnce">Load each pair's images only for its first batch (features are cached).</param>
    public BatchPrefetcher(IReadOnlyList<TrainingExample> examples, IEnumerable<int[]> batches, int batchSize, int pairsAhead, bool loadOnce)
    {
        _examples = examples;
        _batches = batches.GetEnumerator();
        _batchesAhead = Math.Max(2, (pairsAhead + batchSize - 1) / Math.Max(1, batchSize));
        _scheduled = loadOnce ? new HashSet<TrainingImages>(ReferenceEqualityComparer.Instance) : null;
    }

    /// <summary>The next micro-batch and the images loaded for it (each distinct pair once; with
    /// <c>loadOnce</c>, only pairs not seen before). Rethrows a load's exception unchanged.</summary>
    public (int[] Ids, Dictionary<TrainingImages, (float[] Image1, float[] Image2)> Images) Next()
    {
        Fill();
        if (_queue.Count == 0) throw new InvalidOperationException("no micro-batch is left");
        var (ids, images) = _queue.Dequeue();
        Fill();
        return (ids, images.GetAwaiter().GetResult());
    }

    void Fill()
    {
        while (_queue.Count < _batchesAhead && _batches.MoveNext())
        {
            var ids = _batches.Current;
            var pairs = ids.Select(i => _examples[i].Images).Distinct(ReferenceEqualityComparer.Instance).Cast<TrainingImages>()
                .Where(p => _scheduled?.Add(p) ?? true).ToList();
            var loads = pairs.Select(p => Task.Run(p.Load)).ToArray();
            _queue.Enqueue((ids, LoadAll(pairs, loads)));
        }
    }

    static async Task<Dictionary<TrainingImages, (float[] Image1, float[] Image2)>> LoadAll(List<TrainingImages> pairs, Task<(float[], float[])>[] loads)
    {
        // Awaiting each in order surfaces the first failure itself, not an AggregateException.
        var loaded = new Dictionary<TrainingImages, (float[] Image1, float[] Image2)>(ReferenceEqualityComparer.Instance);
        for (int k = 0; k < pairs.Count; k++) loaded[pairs[k]] = await loads[k].ConfigureAwait(false);
        return loaded;
    }
}
