namespace OneDiff.Metrics.Scorers;

/// <summary>
/// ROUGE-L as pycocoevalcap computes it: LCS over tokens split on single spaces, the best
/// precision and the best recall over references (taken separately), F with beta 1.2; the corpus
/// score is the mean of item scores.
/// </summary>
public static class RougeLScorer
{
    const double Beta = 1.2;

    public static double Score(string candidate, IReadOnlyList<string> references)
    {
        var c = candidate.Split(' ');
        double precMax = 0, recMax = 0;
        foreach (var reference in references)
        {
            var r = reference.Split(' ');
            int lcs = Lcs(r, c);
            precMax = Math.Max(precMax, lcs / (double)c.Length);
            recMax = Math.Max(recMax, lcs / (double)r.Length);
        }
        if (precMax == 0 || recMax == 0) return 0.0;
        return (1 + Beta * Beta) * precMax * recMax / (recMax + Beta * Beta * precMax);
    }

    static int Lcs(string[] a, string[] b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
                cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : Math.Max(prev[j], cur[j - 1]);
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
