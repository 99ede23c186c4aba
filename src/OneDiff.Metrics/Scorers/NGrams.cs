namespace OneDiff.Metrics.Scorers;

/// <summary>An n-gram of word ids (n = 1..4; unused slots are -1).</summary>
internal readonly record struct Gram(int A, int B, int C, int D)
{
    public int Order => D >= 0 ? 4 : C >= 0 ? 3 : B >= 0 ? 2 : 1;
}

/// <summary>Word ids and n-gram counts, as pycocoevalcap's <c>precook</c> builds them.</summary>
internal sealed class NGrams
{
    readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    /// <summary>Python's <c>str.split()</c>: runs of whitespace separate, ends are dropped.</summary>
    public static string[] SplitWords(string s) => s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    public int[] Ids(string sentence)
    {
        var words = SplitWords(sentence);
        var ids = new int[words.Length];
        for (int i = 0; i < words.Length; i++)
        {
            if (!_ids.TryGetValue(words[i], out int id)) _ids[words[i]] = id = _ids.Count;
            ids[i] = id;
        }
        return ids;
    }

    /// <summary>Counts of all n-grams, n = 1..maxN, in Python dict order (n outer, position inner).</summary>
    public static Dictionary<Gram, int> Count(int[] w, int maxN)
    {
        var counts = new Dictionary<Gram, int>(w.Length * maxN);
        for (int k = 1; k <= maxN; k++)
            for (int i = 0; i + k <= w.Length; i++)
            {
                var g = new Gram(w[i], k > 1 ? w[i + 1] : -1, k > 2 ? w[i + 2] : -1, k > 3 ? w[i + 3] : -1);
                counts[g] = counts.GetValueOrDefault(g) + 1;
            }
        return counts;
    }
}
