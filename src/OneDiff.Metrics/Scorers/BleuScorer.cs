namespace OneDiff.Metrics.Scorers;

/// <summary>
/// BLEU-1..4 as pycocoevalcap computes them: clipped n-gram counts against the maximum count over
/// references, the closest reference length for the brevity penalty, corpus scores from summed
/// counts (not the mean of item scores), and its smoothing constants (1e-15 and 1e-9).
/// </summary>
public static class BleuScorer
{
    const int N = 4;
    const double Tiny = 1e-15, Small = 1e-9;

    /// <summary>An item's counts, from which corpus BLEU of any set of items is summed: test and
    /// closest reference length, n-grams guessed and matched (clipped) per order.</summary>
    public sealed record Stats(long TestLength, long ReferenceLength, long[] Guess, long[] Correct);

    public sealed record Result(double[] Corpus, double[][] PerItem, Stats[] PerItemStats);

    public static Result Score(IReadOnlyList<(string Candidate, IReadOnlyList<string> References)> items)
    {
        var perItem = new double[N][];
        for (int k = 0; k < N; k++) perItem[k] = new double[items.Count];
        var stats = new Stats[items.Count];
        var ngrams = new NGrams();

        for (int idx = 0; idx < items.Count; idx++)
        {
            var (cand, refs) = items[idx];
            var maxCounts = new Dictionary<Gram, int>();
            var refLens = new List<int>(refs.Count);
            foreach (var r in refs)
            {
                var words = ngrams.Ids(r);
                refLens.Add(words.Length);
                foreach (var (g, c) in NGrams.Count(words, N))
                    if (c > maxCounts.GetValueOrDefault(g)) maxCounts[g] = c;
            }
            var test = ngrams.Ids(cand);
            int testLen = test.Length;
            var guess = new long[N];
            var correct = new long[N];
            for (int k = 0; k < N; k++) guess[k] = Math.Max(testLen - k, 0);
            foreach (var (g, c) in NGrams.Count(test, N))
                correct[g.Order - 1] += Math.Min(maxCounts.GetValueOrDefault(g), c);

            // "closest": the reference length nearest the test length, the shorter on ties.
            int refLen = refLens.OrderBy(l => Math.Abs(l - testLen)).ThenBy(l => l).First();
            stats[idx] = new Stats(testLen, refLen, guess, correct);
            double bleu = 1.0;
            for (int k = 0; k < N; k++)
            {
                bleu *= (correct[k] + Tiny) / (guess[k] + Small);
                perItem[k][idx] = Math.Pow(bleu, 1.0 / (k + 1));
            }
            double ratio = (testLen + Tiny) / (refLen + Small);
            if (ratio < 1)
                for (int k = 0; k < N; k++) perItem[k][idx] *= Math.Exp(1 - 1 / ratio);
        }

        return new Result(Corpus(stats), perItem, stats);
    }

    /// <summary>Corpus BLEU-1..4 of a set of items from their summed counts (an item may come more
    /// than once: a bootstrap resample).</summary>
    public static double[] Corpus(IEnumerable<Stats> items)
    {
        long testLen = 0, refLen = 0;
        var guess = new long[N];
        var correct = new long[N];
        foreach (var s in items)
        {
            testLen += s.TestLength;
            refLen += s.ReferenceLength;
            for (int k = 0; k < N; k++) { guess[k] += s.Guess[k]; correct[k] += s.Correct[k]; }
        }
        var corpus = new double[N];
        double b = 1.0;
        for (int k = 0; k < N; k++)
        {
            b *= (correct[k] + Tiny) / (guess[k] + Small);
            corpus[k] = Math.Pow(b, 1.0 / (k + 1));
        }
        double ratio = (testLen + Tiny) / (refLen + Small);
        if (ratio < 1)
            for (int k = 0; k < N; k++) corpus[k] *= Math.Exp(1 - 1 / ratio);
        return corpus;
    }
}
