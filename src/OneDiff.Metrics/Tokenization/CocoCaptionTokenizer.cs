namespace OneDiff.Metrics.Tokenization;

/// <summary>
/// pycocoevalcap's tokenisation step: newlines become spaces, the PTB tokenizer runs with
/// <c>-preserveLines -lowerCase</c>, then its punctuation tokens are dropped. Note that the filter
/// lists <c>-LRB-</c> etc. in upper case, so after lower-casing those bracket tokens stay.
/// </summary>
public static class CocoCaptionTokenizer
{
    static readonly HashSet<string> Punctuation = new(StringComparer.Ordinal)
    {
        "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";",
    };

    /// <summary>The space-joined tokens pycocoevalcap scores for one caption.</summary>
    public static string Tokenize(string caption) => string.Join(' ', TokenList(caption));

    public static List<string> TokenList(string caption)
    {
        var tokens = PtbTokenizer.Tokenize(caption.Replace('\n', ' ') + "\n");
        tokens.RemoveAll(Punctuation.Contains);
        return tokens;
    }
}
