using System.Reflection;

namespace OneDiff.Metrics.Meteor;

/// <summary>A word with what Meteor's modules compare: its stem, its WordNet synsets (sorted), and
/// whether it is a function word.</summary>
public sealed record MeteorWord(string Text, string Stem, int[] Synsets, bool IsFunction);

/// <summary>
/// Meteor's English resources: WordNet synonym sets with their irregular-form exceptions, and the
/// function-word list. Loaded once from the embedded copies (Data/README.md) and shared.
/// </summary>
public sealed class MeteorResources
{
    static readonly Lazy<MeteorResources> Embedded = new(LoadEmbedded, LazyThreadSafetyMode.ExecutionAndPublication);

    static readonly char[] Separators = [' ', '\t'];
    readonly Dictionary<string, int[]> _synsets;
    readonly Dictionary<string, List<string>> _bases;
    public IReadOnlySet<string> FunctionWords { get; }

    MeteorResources(Dictionary<string, int[]> synsets, Dictionary<string, List<string>> bases, HashSet<string> functionWords)
    {
        _synsets = synsets; _bases = bases; FunctionWords = functionWords;
    }

    public static MeteorResources English => Embedded.Value;

    static MeteorResources LoadEmbedded()
    {
        var asm = typeof(MeteorResources).Assembly;
        using var exceptions = Open(asm, "english.exceptions");
        using var synsets = Open(asm, "english.synsets");
        using var words = Open(asm, "english.words");
        return Load(exceptions, synsets, words);
    }

    static StreamReader Open(Assembly asm, string name)
    {
        var stream = asm.GetManifestResourceStream("OneDiff.Metrics.Meteor.Data." + name)
            ?? throw new InvalidOperationException($"embedded Meteor resource '{name}' is missing from {asm.GetName().Name}");
        return new StreamReader(stream, System.Text.Encoding.UTF8);
    }

    /// <summary>Reads Meteor's file formats: exceptions and synsets are pairs of lines (a word, then
    /// its forms or synset numbers); function words one per line.</summary>
    public static MeteorResources Load(TextReader exceptions, TextReader synsets, TextReader functionWords)
    {
        var bases = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        string? line;
        while ((line = exceptions.ReadLine()) is not null)
        {
            string baseForm = line;
            string forms = exceptions.ReadLine() ?? "";
            foreach (var form in forms.Split(Separators, StringSplitOptions.RemoveEmptyEntries))
            {
                if (!bases.TryGetValue(form, out var list)) bases[form] = list = [];
                list.Add(baseForm);
            }
        }
        var sets = new Dictionary<string, int[]>(StringComparer.Ordinal);
        while ((line = synsets.ReadLine()) is not null)
        {
            string ids = synsets.ReadLine() ?? "";
            sets[line] = ids.Split(Separators, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        }
        var function = new HashSet<string>(StringComparer.Ordinal);
        while ((line = functionWords.ReadLine()) is not null) function.Add(line);
        return new MeteorResources(sets, bases, function);
    }

    readonly System.Collections.Concurrent.ConcurrentDictionary<string, MeteorWord> _words = new(StringComparer.Ordinal);

    /// <summary>What the matchers need of a word (stem, sorted synsets, function word or not),
    /// computed once per distinct word.</summary>
    public MeteorWord Word(string word) =>
        _words.Count < 2_000_000 ? _words.GetOrAdd(word, MakeWord) : MakeWord(word);

    MeteorWord MakeWord(string word)
    {
        var synsets = SynsetsOf(word).ToArray();
        Array.Sort(synsets);
        return new MeteorWord(word, SnowballEnglishStemmer.Stem(word), synsets, FunctionWords.Contains(word.ToLowerInvariant()));
    }

    /// <summary>The synsets a word can be matched through: its own, plus those of its base forms
    /// (irregular exceptions, else WordNet's suffix morphology), as Meteor's synonym module does.</summary>
    public HashSet<int> SynsetsOf(string word)
    {
        var result = new HashSet<int>();
        if (_synsets.TryGetValue(word, out var own)) result.UnionWith(own);
        if (_bases.TryGetValue(word, out var baseForms))
        {
            foreach (var b in baseForms)
                if (_synsets.TryGetValue(b, out var s)) result.UnionWith(s);
        }
        else if (_synsets.TryGetValue(Morph(word), out var morph)) result.UnionWith(morph);
        return result;
    }

    // WordNet 3.0 morphology suffix rules (nouns, verbs, adjectives), in Meteor's order.
    static readonly string[] Suffixes = ["s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"];
    static readonly string[] Endings = ["", "s", "x", "z", "ch", "sh", "man", "y", "", "y", "e", "", "e", "", "e", "", "", "", "e", "e"];

    string Morph(string word)
    {
        // Meteor keeps "ful" as an ending to re-attach, then tries each rule in turn.
        string end = word.EndsWith("ful", StringComparison.Ordinal) ? "ful" : "";
        if (word.EndsWith("ss", StringComparison.Ordinal) || word.Length <= 2) return word;
        for (int i = 0; i < Suffixes.Length; i++)
        {
            if (!word.EndsWith(Suffixes[i], StringComparison.Ordinal)) continue;
            string candidate = word[..^Suffixes[i].Length] + Endings[i];
            if (_synsets.ContainsKey(candidate)) return candidate + end;
        }
        return "";
    }
}
