using OneDiff.Metrics.Meteor;
using OneDiff.Metrics.Scorers;

namespace OneDiff.Metrics;

/// <summary>The ends of each score's percentile bootstrap interval at <see cref="Confidence"/>.</summary>
public sealed record ScoreInterval(CaptionScores Low, CaptionScores High, double Confidence, int Resamples);

/// <summary>What each item of a scored set adds to the set's scores.</summary>
internal sealed record ItemStatistics(BleuScorer.Stats[] Bleu, MeteorStats[]? Meteor, double[] RougeL, double[] Cider);

/// <summary>
/// Percentile bootstrap intervals of a set's scores: the set's items drawn with replacement, as
/// many as it has, and every score computed for the draw as pycocoevalcap computes it for a set:
/// BLEU and METEOR from summed counts, ROUGE-L the mean of item scores, CIDEr-D the mean of item
/// scores, with the document frequencies of the whole set (a draw repeats items, and counting a
/// repeated item's references twice would bias the frequencies). Seeded, so the same items give
/// the same interval.
/// </summary>
internal static class BootstrapInterval
{
    public static ScoreInterval Compute(ItemStatistics set, MeteorScorer? meteor, int resamples, double confidence, int seed, bool parallel) =>
        Ends(Draws(set, meteor, resamples, seed, parallel), confidence);

    /// <summary>Each resample's scores. Sets of the same size drawn with the same seed pick the
    /// same items: a paired comparison of two systems on the same references.</summary>
    public static CaptionScores[] Draws(ItemStatistics set, MeteorScorer? meteor, int resamples, int seed, bool parallel)
    {
        int n = set.RougeL.Length;
        var draws = new CaptionScores[resamples];
        void Draw(int b)
        {
            var rng = new Random(unchecked(seed * 1_000_003 + b));
            var picked = new int[n];
            for (int i = 0; i < n; i++) picked[i] = rng.Next(n);
            var bleu = BleuScorer.Corpus(picked.Select(i => set.Bleu[i]));
            double meteorScore = double.NaN;
            if (meteor is not null && set.Meteor is { } stats)
            {
                var total = new MeteorStats();
                foreach (int i in picked) total.Add(stats[i]);
                meteorScore = meteor.Score(total);
            }
            double rouge = 0, cider = 0;
            foreach (int i in picked) { rouge += set.RougeL[i]; cider += set.Cider[i]; }
            draws[b] = new CaptionScores(bleu[0], bleu[1], bleu[2], bleu[3], meteorScore, rouge / n, cider / n);
        }
        if (parallel) Parallel.For(0, resamples, Draw);
        else for (int b = 0; b < resamples; b++) Draw(b);
        return draws;
    }

    /// <summary>The percentile interval of each score over <paramref name="draws"/>.</summary>
    public static ScoreInterval Ends(CaptionScores[] draws, double confidence)
    {
        int resamples = draws.Length;
        int lowIndex = (int)Math.Floor((1 - confidence) / 2 * resamples);
        int highIndex = Math.Min(resamples - 1, (int)Math.Ceiling((1 + confidence) / 2 * resamples) - 1);
        double[] Ends(Func<CaptionScores, double> metric)
        {
            var values = draws.Select(metric).Order().ToArray();
            return [values[lowIndex], values[highIndex]];
        }
        var ends = new[]
        {
            Ends(s => s.Bleu1), Ends(s => s.Bleu2), Ends(s => s.Bleu3), Ends(s => s.Bleu4), Ends(s => s.Meteor), Ends(s => s.RougeL), Ends(s => s.Cider),
        };
        CaptionScores End(int e) => new(ends[0][e], ends[1][e], ends[2][e], ends[3][e], ends[4][e], ends[5][e], ends[6][e]);
        return new ScoreInterval(End(0), End(1), confidence, resamples);
    }
}
