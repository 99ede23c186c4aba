namespace OneDiff.Modeling.Prompting;

/// <summary>
/// How a task prompt and an answer become the LLM's text (LLaVA's conversation templates):
/// <c>Prefix + UserPrefix + "&lt;image&gt;" + ImageSeparator + prompt + AssistantPrefix</c>, then the
/// answer followed by <c>AnswerSuffix</c> (the loss covers the answer and its suffix). Plain data,
/// so a user can define their own.
/// </summary>
public sealed record ConversationTemplate(
    string Name, string Prefix, string UserPrefix, string ImageSeparator, bool IncludePrompt, string AssistantPrefix, string AnswerPrefix, string AnswerSuffix)
{
    public const string ImageToken = "<image>";

    /// <summary>LLaVA's <c>plain</c> (stage I, CST): the visual tokens, then the caption.</summary>
    public static ConversationTemplate Plain => new("plain", "", "", "", false, "", "", "\n");

    /// <summary>LLaVA's <c>vicuna_v1</c> (stage II, Vicuna).</summary>
    public static ConversationTemplate VicunaV1 => new("vicuna_v1",
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.",
        " USER: ", "\n", true, " ASSISTANT:", " ", "</s>") { NextUserPrefix = "USER: " };

    /// <summary>ChatML (stage II, Qwen2).</summary>
    public static ConversationTemplate ChatML => new("chatml",
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "<|im_start|>user\n", "\n", true,
        "<|im_end|>\n<|im_start|>assistant\n", "", "<|im_end|>") { NextUserPrefix = "\n<|im_start|>user\n" };

    /// <summary>What opens a later user turn, after the previous answer's end marker (LLaVA's
    /// "...&lt;/s&gt;USER: ..." for Vicuna); null where the template has a single turn (plain).</summary>
    public string? NextUserPrefix { get; init; }

    /// <summary>The templates <see cref="ByName"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["plain", "vicuna_v1", "chatml"];

    public static ConversationTemplate ByName(string name) => name switch
    {
        "plain" => Plain,
        "vicuna_v1" => VicunaV1,
        "chatml" => ChatML,
        _ => throw new ArgumentException($"unknown conversation template '{name}' (plain, vicuna_v1, chatml)", nameof(name)),
    };

    /// <summary>Text before the image (ends where the visual tokens go).</summary>
    public string BeforeImage => Prefix + UserPrefix;

    /// <summary>Text between the visual tokens and the answer.</summary>
    public string AfterImage(string prompt) => ImageSeparator + (IncludePrompt ? prompt : "") + AssistantPrefix;

    /// <summary>The answer as trained (and the text after which generation stops).</summary>
    public string Answer(string answer) => AnswerPrefix + answer + AnswerSuffix;
}
