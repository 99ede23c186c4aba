namespace OneDiff.Metrics.Scorers;

/// <summary>
/// "CIDEr" as pycocoevalcap computes it, which is CIDEr-D: TF-IDF n-gram vectors (n = 1..4) with
/// document frequencies from the references of the scored set, clipped similarity, a Gaussian
/// length penalty (sigma 6), averaged over n and references, times 10. Its quirks are kept: the
/// length is the count of bigrams, and a one-item set scores 0 (log of one document).
/// </summary>
public static class CiderDScorer
{
    const int N = 4;
    const double Sigma = 6.0;

    public sealed record Result(double Corpus, double[] PerItem);

    /// <summary>A sentence's TF-IDF vector: n-gram ids ascending per order, their values, norms
    /// per order, and the length (bigram count).</summary>
    sealed class Vector
    {
        public required int[][] Ids;
        public required double[][] Values;
        public required double[] Norm;
        public required int Length;
    }

    public static Result Score(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items)
    {
        var words = new NGrams();
        var gramIds = new Dictionary<Gram, int>();
        (int Id, int Order, int Count)[] Grams(string sentence)
        {
            var counts = NGrams.Count(words.Ids(sentence), N);
            var result = new (int, int, int)[counts.Count];
            int i = 0;
            foreach (var (g, c) in counts)
            {
                if (!gramIds.TryGetValue(g, out int id)) gramIds[g] = id = gramIds.Count;
                result[i++] = (id, g.Order, c);
            }
            return result;
        }
        var refGrams = items.Select(it => it.References.Select(Grams).ToArray()).ToArray();
        var hypGrams = items.Select(it => Grams(it.Candidate)).ToArray();

        // Document frequency: in how many items' reference sets each n-gram occurs.
        var df = new int[gramIds.Count];
        var lastItem = new int[gramIds.Count];
        Array.Fill(lastItem, -1);
        for (int item = 0; item < refGrams.Length; item++)
            foreach (var r in refGrams[item])
                foreach (var (id, _, _) in r)
                    if (lastItem[id] != item) { lastItem[id] = item; df[id]++; }
        double refLen = Math.Log(items.Count);
        var logDf = new double[df.Length];
        for (int i = 0; i < df.Length; i++) logDf[i] = Math.Log(Math.Max(1.0, df[i]));

        Vector ToVector((int Id, int Order, int Count)[] grams)
        {
            var ids = new List<int>[N];
            var vals = new List<double>[N];
            for (int k = 0; k < N; k++) { ids[k] = []; vals[k] = []; }
            var norm = new double[N];
            int length = 0;
            foreach (var (id, order, tf) in grams)
            {
                int n = order - 1;
                double v = tf * (refLen - logDf[id]);
                ids[n].Add(id);
                vals[n].Add(v);
                norm[n] += v * v;
                if (n == 1) length += tf;
            }
            var vec = new Vector { Ids = new int[N][], Values = new double[N][], Norm = norm, Length = length };
            for (int k = 0; k < N; k++)
            {
                var idArray = ids[k].ToArray();
                var valArray = vals[k].ToArray();
                Array.Sort(idArray, valArray);
                vec.Ids[k] = idArray;
                vec.Values[k] = valArray;
                norm[k] = Math.Sqrt(norm[k]);
            }
            return vec;
        }

        var perItem = new double[items.Count];
        Parallel.For(0, items.Count, idx =>
        {
            var hyp = ToVector(hypGrams[idx]);
            var score = new double[N];
            foreach (var rg in refGrams[idx])
            {
                var r = ToVector(rg);
                double delta = hyp.Length - r.Length;
                for (int n = 0; n < N; n++)
                {
                    // Sum over the hypothesis n-grams of min(h, r) * r (zero where r lacks it).
                    double val = 0;
                    int[] hi = hyp.Ids[n], ri = r.Ids[n];
                    for (int a = 0, b = 0; a < hi.Length && b < ri.Length;)
                    {
                        if (hi[a] == ri[b]) { double rv = r.Values[n][b]; val += Math.Min(hyp.Values[n][a], rv) * rv; a++; b++; }
                        else if (hi[a] < ri[b]) a++;
                        else b++;
                    }
                    if (hyp.Norm[n] != 0 && r.Norm[n] != 0) val /= hyp.Norm[n] * r.Norm[n];
                    val *= Math.Exp(-(delta * delta) / (2 * Sigma * Sigma));
                    score[n] += val;
                }
            }
            perItem[idx] = score.Average() / refGrams[idx].Length * 10.0;
        });
        return new Result(perItem.Length == 0 ? 0 : perItem.Average(), perItem);
    }
}
