namespace OneDiff.Metrics.Scorers;

/// <summary>N-gram counts of a whitespace-split sentence, keyed by the n-gram joined with a
/// separator that cannot occur inside a token.</summary>
internal static class NGrams
{
    public const char Separator = '\u0001';

    /// <summary>Python's <c>str.split()</c>: runs of whitespace separate, ends are dropped.</summary>
    public static string[] SplitWords(string s) => s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Counts of all n-grams, n = 1..maxN, in Python dict order (n outer, position inner).</summary>
    public static Dictionary<string, int> Count(string[] words, int maxN)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int k = 1; k <= maxN; k++)
            for (int i = 0; i + k <= words.Length; i++)
            {
                string key = k == 1 ? words[i] : string.Join(Separator, words, i, k);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        return counts;
    }

    public static int Order(string key) => key.Count(c => c == Separator) + 1;
}
