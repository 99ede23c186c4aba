using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace OneDiff.Modeling.Tokenization;

/// <summary>
/// The LLM's tokenizer as the model needs it: ids without any automatic BOS/EOS (the prompt
/// template decides), decoding, and the special ids. Built on Microsoft.ML.Tokenizers: LLaMA /
/// Vicuna through <c>LlamaTokenizer</c> (SentencePiece <c>tokenizer.model</c>), Qwen2 through a
/// byte-level <c>BpeTokenizer</c> (<c>vocab.json</c> + <c>merges.txt</c>).
/// </summary>
public sealed class TextTokenizer
{
    readonly Tokenizer _tokenizer;
    public int VocabSize { get; }
    public int? BosId { get; }
    public int EosId { get; }
    public int PadId { get; }
    /// <summary>Text that marks the end of an answer in the prompt template ("&lt;/s&gt;", "&lt;|im_end|&gt;").</summary>
    public string EosText { get; }

    TextTokenizer(Tokenizer tokenizer, int vocabSize, int? bos, int eos, int pad, string eosText)
    {
        _tokenizer = tokenizer; VocabSize = vocabSize; BosId = bos; EosId = eos; PadId = pad; EosText = eosText;
    }

    public int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids) ?? "";

    /// <summary>A SentencePiece model (LLaMA / Vicuna): BOS 1, EOS 2, pad 0 unless told otherwise.</summary>
    public static TextTokenizer FromSentencePiece(Stream model, int bos = 1, int eos = 2, int pad = 0)
    {
        var t = LlamaTokenizer.Create(model, addBeginOfSentence: false, addEndOfSentence: false);
        return new TextTokenizer(t, t.Vocabulary.Count, bos, eos, pad, "</s>");
    }

    /// <summary>The Tiny preset's embedded SentencePiece model (1,000 pieces).</summary>
    public static TextTokenizer Tiny()
    {
        using var s = typeof(TextTokenizer).Assembly.GetManifestResourceStream("OneDiff.Modeling.Resources.tiny-tokenizer.model")
            ?? throw new InvalidOperationException("the embedded tiny tokenizer is missing");
        return FromSentencePiece(s);
    }

    // Qwen2's pre-tokenisation pattern (from its tokenizer.json).
    const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>A byte-level BPE (Qwen2): vocab.json, merges.txt, and the special tokens (which the
    /// pre-tokenizer must know, or they would be split).</summary>
    public static TextTokenizer FromByteLevelBpe(string vocabPath, string mergesPath, IReadOnlyDictionary<string, int> specialTokens,
        string eosToken = "<|im_end|>", string padToken = "<|endoftext|>")
    {
        var options = new BpeOptions(vocabPath, mergesPath)
        {
            ByteLevel = true,
            SpecialTokens = specialTokens,
            PreTokenizer = new RegexPreTokenizer(new Regex(Qwen2Pattern, RegexOptions.Compiled), specialTokens),
        };
        var t = BpeTokenizer.Create(options);
        int Id(string token) => specialTokens.TryGetValue(token, out int id) ? id
            : throw new InvalidDataException($"special token '{token}' is not among the tokenizer's special tokens");
        int vocab = Math.Max(t.Vocabulary.Count, specialTokens.Count == 0 ? 0 : specialTokens.Values.Max() + 1);
        return new TextTokenizer(t, vocab, null, Id(eosToken), Id(padToken), eosToken);
    }

    /// <summary>Reads a Hugging Face model folder: tokenizer.model (SentencePiece) or vocab.json +
    /// merges.txt (byte-level BPE, special tokens from tokenizer.json's added_tokens).</summary>
    public static TextTokenizer FromFolder(string folder)
    {
        string sp = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(sp)) { using var s = File.OpenRead(sp); return FromSentencePiece(s); }
        string vocab = Path.Combine(folder, "vocab.json"), merges = Path.Combine(folder, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges))
        {
            var special = new Dictionary<string, int>(StringComparer.Ordinal);
            string tj = Path.Combine(folder, "tokenizer.json");
            if (File.Exists(tj))
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(tj));
                if (doc.RootElement.TryGetProperty("added_tokens", out var added))
                    foreach (var a in added.EnumerateArray()) special[a.GetProperty("content").GetString()!] = a.GetProperty("id").GetInt32();
            }
            return FromByteLevelBpe(vocab, merges, special);
        }
        throw new FileNotFoundException($"{folder}: no tokenizer.model, nor vocab.json with merges.txt");
    }
}
