using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Retrieval;

/// <summary>Two rows of an embedding matrix (First &lt; Second) and their cosine similarity.</summary>
public readonly record struct SimilarPair(int First, int Second, float Similarity);

/// <summary>
/// Exact nearest-neighbour pairs over unit-length embeddings, as the paper builds real difference
/// pairs by CLIP retrieval: each row's most similar other rows within a similarity band (above
/// <c>min</c> so the two images show a comparable scene, below <c>max</c> so they are not the same
/// photo twice). Similarities are computed a block of rows at a time on the embeddings' device,
/// so memory stays bounded for hundreds of thousands of images.
/// </summary>
public static class SimilarPairs
{
    /// <summary>Elements of one block of the similarity matrix (512 MiB in fp32).</summary>
    const long BlockElements = 1L << 27;

    /// <summary>How many in-band candidates a row looks through, per neighbour it may choose, when
    /// an <c>accept</c> rule may refuse some (the most similar first).</summary>
    public const int CandidatesPerNeighbor = 4;

    /// <param name="embeddings">(N, D), rows of unit length.</param>
    /// <param name="neighbors">how many partners each row may choose.</param>
    /// <param name="accept">null, or a rule a pair (row, other row, similarity) must pass (captions too alike
    /// fail it): each row then chooses its first <paramref name="neighbors"/> accepted among its
    /// <see cref="CandidatesPerNeighbor"/> x neighbors most similar in the band.</param>
    /// <returns>every chosen pair once, ordered by First then Second.</returns>
    public static List<SimilarPair> Find(Tensor embeddings, int neighbors, double minSimilarity, double maxSimilarity, int? blockRows = null, Func<SimilarPair, bool>? accept = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.dim() != 2) throw new ArgumentException($"embeddings must be (N, D), not ({string.Join(", ", embeddings.shape)})", nameof(embeddings));
        if (neighbors < 1) throw new ArgumentOutOfRangeException(nameof(neighbors), neighbors, "at least one neighbour");
        if (!(minSimilarity < maxSimilarity)) throw new ArgumentException($"the similarity band [{minSimilarity}, {maxSimilarity}) is empty");
        long n = embeddings.shape[0];
        int k = (int)Math.Min(accept is null ? neighbors : (long)neighbors * CandidatesPerNeighbor, n - 1);
        var pairs = new HashSet<(int, int)>();
        var result = new List<SimilarPair>();
        if (k < 1) return result;
        long rows = blockRows ?? Math.Clamp(BlockElements / n, 1, 4096);
        using var all = embeddings.to(ScalarType.Float32);
        using var allT = all.t();
        for (long start = 0; start < n; start += rows)
        {
            using var scope = torch.NewDisposeScope();
            long len = Math.Min(rows, n - start);
            var sims = all.narrow(0, start, len).matmul(allT);
            // A row is not its own neighbour; outside the band is no neighbour at all.
            sims.narrow(1, start, len).diagonal().fill_(float.NegativeInfinity);
            sims.masked_fill_(sims.lt(minSimilarity).logical_or_(sims.ge(maxSimilarity)), float.NegativeInfinity);
            var (values, indices) = sims.topk(k, dim: 1, largest: true, sorted: true);
            var v = values.cpu().data<float>().ToArray();
            var ix = indices.cpu().data<long>().ToArray();
            for (int r = 0; r < len; r++)
                for (int j = 0, chosen = 0; j < k && chosen < neighbors; j++)
                {
                    float s = v[r * k + j];
                    if (float.IsNegativeInfinity(s)) break;
                    int a = (int)(start + r), b = (int)ix[r * k + j];
                    if (accept is not null && !accept(new SimilarPair(a, b, s))) continue;
                    chosen++;
                    var key = a < b ? (a, b) : (b, a);
                    if (pairs.Add(key)) result.Add(new SimilarPair(key.Item1, key.Item2, s));
                }
        }
        result.Sort((x, y) => x.First != y.First ? x.First.CompareTo(y.First) : x.Second.CompareTo(y.Second));
        return result;
    }
}
