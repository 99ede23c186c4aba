using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OneDiff.Metrics;

/// <summary>Renders an evaluation as a text table (x100, as papers print) or as pycocoevalcap-style JSON.</summary>
public static class CaptionReport
{
    static readonly string[] Columns = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"];

    public static string ToTable(CaptionEvaluation e)
    {
        var rows = new List<(string Name, int Count, CaptionScores Scores)> { ("all", e.PerItem.Count, e.Corpus) };
        rows.AddRange(e.PerGroup.Select(g => (g.Key, e.GroupSizes[g.Key], g.Value)));
        int nameWidth = Math.Max(5, rows.Max(r => r.Name.Length));
        var sb = new StringBuilder();
        sb.Append("group".PadRight(nameWidth)).Append("  items");
        foreach (var c in Columns) sb.Append(c.PadLeft(9));
        sb.AppendLine();
        foreach (var (name, count, scores) in rows)
        {
            sb.Append(name.PadRight(nameWidth)).Append(count.ToString(CultureInfo.InvariantCulture).PadLeft(7));
            foreach (var c in Columns) sb.Append((scores.ToDictionary()[c] * 100).ToString("F2", CultureInfo.InvariantCulture).PadLeft(9));
            sb.AppendLine();
        }
        sb.Append($"(scores x100; METEOR modules: {string.Join(" ", e.MeteorModules)})");
        if (e.CorpusInterval is { } all)
        {
            var intervals = new List<(string Name, ScoreInterval Interval)> { ("all", all) };
            intervals.AddRange((e.GroupIntervals ?? new Dictionary<string, ScoreInterval>()).Select(g => (g.Key, g.Value)));
            sb.AppendLine().AppendLine().AppendLine($"{all.Confidence * 100:G3}% bootstrap intervals ({all.Resamples} resamples):");
            sb.Append("group".PadRight(nameWidth));
            foreach (var c in Columns) sb.Append(c.PadLeft(16));
            foreach (var (name, interval) in intervals)
            {
                sb.AppendLine().Append(name.PadRight(nameWidth));
                var low = interval.Low.ToDictionary();
                var high = interval.High.ToDictionary();
                foreach (var c in Columns)
                    sb.Append(double.IsNaN(low[c]) ? "-".PadLeft(16)
                        : $"[{(low[c] * 100).ToString("F1", CultureInfo.InvariantCulture)}, {(high[c] * 100).ToString("F1", CultureInfo.InvariantCulture)}]".PadLeft(16));
            }
        }
        return sb.ToString();
    }

    /// <summary>Two systems side by side (x100), the difference B - A with its paired bootstrap
    /// interval, and how often B scored higher in the resamples.</summary>
    public static string ToTable(CaptionComparison c, string nameA = "A", string nameB = "B")
    {
        var sb = new StringBuilder();
        sb.AppendLine($"A = {nameA}");
        sb.AppendLine($"B = {nameB}");
        Rows(sb, "all", c);
        foreach (var (group, g) in c.PerGroup ?? new Dictionary<string, CaptionComparison>()) Rows(sb, group, g);
        sb.Append($"(scores x100; paired bootstrap over {c.DifferenceInterval.Resamples} resamples of the same items{(c.PerGroup is null ? "" : ", each group as its own set")})");
        return sb.ToString();

        static void Rows(StringBuilder sb, string group, CaptionComparison c)
        {
            var a = c.A.ToDictionary();
            var b = c.B.ToDictionary();
            var d = c.Difference.ToDictionary();
            var low = c.DifferenceInterval.Low.ToDictionary();
            var high = c.DifferenceInterval.High.ToDictionary();
            var share = c.BFraction.ToDictionary();
            static string F(double x) => (x * 100).ToString("F2", CultureInfo.InvariantCulture);
            sb.AppendLine().AppendLine($"{group,-8}{"A",9}{"B",9}{"B - A",9}  {c.DifferenceInterval.Confidence * 100:G3}% interval of B - A   B higher in");
            foreach (var k in Columns)
            {
                if (double.IsNaN(a[k])) continue;
                sb.AppendLine($"{k,-8}{F(a[k]),9}{F(b[k]),9}{F(d[k]),9}  {$"[{F(low[k])}, {F(high[k])}]",-24}{(share[k] * 100).ToString("F1", CultureInfo.InvariantCulture),6} %");
            }
        }
    }

    /// <summary>The comparison as JSON: A, B, difference (B - A), interval and b_higher per key, and
    /// the same per_group.</summary>
    public static string ToJson(CaptionComparison c, bool indented = true) =>
        JsonSerializer.Serialize(ComparisonJson(c), new JsonSerializerOptions { WriteIndented = indented });

    static Dictionary<string, object> ComparisonJson(CaptionComparison c)
    {
        var doc = new Dictionary<string, object>
        {
            ["A"] = ScoresJson(c.A), ["B"] = ScoresJson(c.B), ["difference"] = ScoresJson(c.Difference),
            ["interval"] = IntervalJson(c.DifferenceInterval), ["b_higher"] = ScoresJson(c.BFraction),
        };
        if (c.PerGroup is { } groups) doc["per_group"] = groups.ToDictionary(g => g.Key, g => (object)ComparisonJson(g.Value));
        return doc;
    }

    /// <summary>The scores by pycocoevalcap's keys; a score not computed (METEOR with --no-meteor)
    /// is left out, as pycocoevalcap leaves out a scorer it did not run.</summary>
    static Dictionary<string, object> ScoresJson(CaptionScores scores) =>
        scores.ToDictionary().Where(kv => !double.IsNaN(kv.Value)).ToDictionary(kv => kv.Key, kv => (object)kv.Value);

    static Dictionary<string, object> IntervalJson(ScoreInterval interval)
    {
        var low = interval.Low.ToDictionary();
        var high = interval.High.ToDictionary();
        var doc = new Dictionary<string, object> { ["confidence"] = interval.Confidence, ["resamples"] = interval.Resamples };
        foreach (var c in Columns) if (!double.IsNaN(low[c])) doc[c] = new[] { low[c], high[c] };
        return doc;
    }

    /// <summary>pycocoevalcap's keys plus METEOR_modules; optionally interval (bootstrap: each key's
    /// [low, high]), per_group and per_item.</summary>
    public static string ToJson(CaptionEvaluation e, bool perItem = false, bool indented = true)
    {
        var doc = ScoresJson(e.Corpus);
        doc["METEOR_modules"] = e.MeteorModules;
        if (e.CorpusInterval is { } all) doc["interval"] = IntervalJson(all);
        if (e.PerGroup.Count > 0)
            doc["per_group"] = e.PerGroup.ToDictionary(g => g.Key, g =>
            {
                var group = ScoresJson(g.Value);
                group["items"] = e.GroupSizes[g.Key];
                if (e.GroupIntervals?.GetValueOrDefault(g.Key) is { } interval) group["interval"] = IntervalJson(interval);
                return (object)group;
            });
        if (perItem) doc["per_item"] = e.PerItem.ToDictionary(i => i.Key, i => ScoresJson(i.Value));
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = indented });
    }
}
