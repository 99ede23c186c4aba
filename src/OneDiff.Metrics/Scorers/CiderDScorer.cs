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

    sealed record Vector(Dictionary<string, double>[] Values, double[] Norm, int Length);

    public static Result Score(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items)
    {
        var refCounts = items.Select(it => it.References.Select(r => NGrams.Count(NGrams.SplitWords(r), N)).ToList()).ToList();
        var df = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var refs in refCounts)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var r in refs) seen.UnionWith(r.Keys);
            foreach (var g in seen) df[g] = df.GetValueOrDefault(g) + 1;
        }
        double refLen = Math.Log(items.Count);

        Vector ToVector(Dictionary<string, int> counts)
        {
            var vec = new Dictionary<string, double>[N];
            for (int k = 0; k < N; k++) vec[k] = new(StringComparer.Ordinal);
            var norm = new double[N];
            int length = 0;
            foreach (var (g, tf) in counts)
            {
                double d = Math.Log(Math.Max(1.0, df.GetValueOrDefault(g)));
                int n = NGrams.Order(g) - 1;
                double v = tf * (refLen - d);
                vec[n][g] = v;
                norm[n] += v * v;
                if (n == 1) length += tf;
            }
            for (int k = 0; k < N; k++) norm[k] = Math.Sqrt(norm[k]);
            return new Vector(vec, norm, length);
        }

        var perItem = new double[items.Count];
        for (int idx = 0; idx < items.Count; idx++)
        {
            var hyp = ToVector(NGrams.Count(NGrams.SplitWords(items[idx].Candidate), N));
            var score = new double[N];
            foreach (var rc in refCounts[idx])
            {
                var r = ToVector(rc);
                double delta = hyp.Length - r.Length;
                for (int n = 0; n < N; n++)
                {
                    double val = 0;
                    foreach (var (g, hv) in hyp.Values[n])
                    {
                        double rv = r.Values[n].GetValueOrDefault(g);
                        val += Math.Min(hv, rv) * rv;
                    }
                    if (hyp.Norm[n] != 0 && r.Norm[n] != 0) val /= hyp.Norm[n] * r.Norm[n];
                    val *= Math.Exp(-(delta * delta) / (2 * Sigma * Sigma));
                    score[n] += val;
                }
            }
            perItem[idx] = score.Average() / refCounts[idx].Count * 10.0;
        }
        return new Result(perItem.Length == 0 ? 0 : perItem.Average(), perItem);
    }
}
