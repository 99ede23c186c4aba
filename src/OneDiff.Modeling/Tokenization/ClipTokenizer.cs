using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OneDiff.Modeling.Tokenization;

/// <summary>
/// CLIP's byte-level BPE (Hugging Face <c>CLIPTokenizer</c>, from a folder's <c>vocab.json</c> and
/// <c>merges.txt</c>): the text is HTML-unescaped, its whitespace collapsed and lower-cased; it is
/// split by CLIP's pattern (contractions, letter runs, single digits, other symbol runs); each
/// piece's UTF-8 bytes are mapped to printable characters as GPT-2 does; the last character of a
/// piece carries the end-of-word mark <c>&lt;/w&gt;</c>; merges apply by rank. The ids are framed by
/// start and end of text and cut to the model's context. ftfy's mojibake repair, which the Python
/// tokenizer applies when ftfy is installed, is not done.
/// </summary>
public sealed partial class ClipTokenizer
{
    const string StartOfText = "<|startoftext|>", EndOfText = "<|endoftext|>", EndOfWord = "</w>";
    readonly Dictionary<string, int> _vocab;
    readonly Dictionary<(string, string), int> _ranks;
    readonly Dictionary<string, string[]> _cache = new(StringComparer.Ordinal);
    static readonly string[] ByteChars = BytesToUnicode();

    public int StartId { get; }
    public int EndId { get; }
    /// <summary>The text tower's context (77 for OpenAI's CLIP); longer texts are cut, keeping the end token.</summary>
    public int MaxLength { get; }

    public ClipTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string, string)> merges, int maxLength)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _ranks = new Dictionary<(string, string), int>();
        foreach (var m in merges) _ranks.TryAdd(m, _ranks.Count);
        StartId = _vocab.TryGetValue(StartOfText, out int s) ? s : throw new InvalidDataException($"the vocabulary has no {StartOfText}");
        EndId = _vocab.TryGetValue(EndOfText, out int e) ? e : throw new InvalidDataException($"the vocabulary has no {EndOfText}");
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "at least the start and end tokens");
        MaxLength = maxLength;
    }

    /// <summary>From a CLIP folder: vocab.json, merges.txt (its "#version" line skipped).</summary>
    public static ClipTokenizer FromFolder(string folder, int maxLength)
    {
        string vocabFile = Path.Combine(folder, "vocab.json"), mergesFile = Path.Combine(folder, "merges.txt");
        foreach (var f in new[] { vocabFile, mergesFile })
            if (!File.Exists(f)) throw new FileNotFoundException($"{folder}: CLIP's tokenizer needs {Path.GetFileName(f)} (a CLIPModel folder as Hugging Face saves it has it)", f);
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabFile))
            ?? throw new InvalidDataException($"{vocabFile}: not a JSON object of token ids");
        var merges = File.ReadLines(mergesFile).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).Select((l, i) =>
        {
            var parts = l.Split(' ');
            return parts.Length == 2 ? (parts[0], parts[1]) : throw new InvalidDataException($"{mergesFile} line {i + 2}: not two symbols: '{l}'");
        });
        return new ClipTokenizer(vocab, merges, maxLength);
    }

    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.IgnoreCase)]
    private static partial Regex Pieces();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    /// <summary>[start] tokens [end], at most <see cref="MaxLength"/> ids.</summary>
    public int[] Encode(string text)
    {
        string clean = Spaces().Replace(WebUtility.HtmlDecode(WebUtility.HtmlDecode(text)), " ").Trim().ToLowerInvariant();
        var ids = new List<int> { StartId };
        foreach (Match m in Pieces().Matches(clean))
        {
            string mapped = string.Concat(Encoding.UTF8.GetBytes(m.Value).Select(b => ByteChars[b]));
            foreach (var symbol in Bpe(mapped))
                ids.Add(_vocab.TryGetValue(symbol, out int id) ? id : throw new InvalidDataException($"the vocabulary has no '{symbol}' (from '{m.Value}')"));
        }
        if (ids.Count > MaxLength - 1) ids.RemoveRange(MaxLength - 1, ids.Count - (MaxLength - 1));
        ids.Add(EndId);
        return ids.ToArray();
    }

    string[] Bpe(string piece)
    {
        if (_cache.TryGetValue(piece, out var cached)) return cached;
        var word = piece.Select(c => c.ToString()).ToList();
        word[^1] += EndOfWord;
        while (word.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i < word.Count - 1; i++)
                if (_ranks.TryGetValue((word[i], word[i + 1]), out int rank) && rank < bestRank) { best = i; bestRank = rank; }
            if (best < 0) break;
            // Merge every occurrence of the best pair, left to right, as the reference does.
            var (first, second) = (word[best], word[best + 1]);
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count; i++)
            {
                if (i < word.Count - 1 && word[i] == first && word[i + 1] == second) { merged.Add(first + second); i++; }
                else merged.Add(word[i]);
            }
            word = merged;
        }
        var result = word.ToArray();
        if (_cache.Count < 100_000) _cache[piece] = result;
        return result;
    }

    /// <summary>GPT-2's map of the 256 byte values to printable characters: printable Latin-1 stays,
    /// the rest is moved above U+00FF.</summary>
    static string[] BytesToUnicode()
    {
        var map = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = ((char)(printable ? b : 256 + extra++)).ToString();
        }
        return map;
    }
}
