using OneDiff.Modeling.Tokenization;

namespace OneDiff.Modeling.Prompting;

/// <summary>A prompt as token ids around the place of the visual tokens, with its answer.</summary>
public sealed record EncodedPrompt(int[] BeforeImage, int[] AfterImage, int[] Answer);

/// <summary>Turns (task prompt, answer) into token ids through a conversation template.</summary>
public sealed class PromptEncoder
{
    public TextTokenizer Tokenizer { get; }
    public ConversationTemplate Template { get; }

    public PromptEncoder(TextTokenizer tokenizer, ConversationTemplate template) { Tokenizer = tokenizer; Template = template; }

    /// <param name="answer">the target caption, or null when generating.</param>
    public EncodedPrompt Encode(string prompt, string? answer)
    {
        var before = new List<int>();
        if (Tokenizer.BosId is { } bos) before.Add(bos);
        if (Template.BeforeImage.Length > 0) before.AddRange(Tokenizer.Encode(Template.BeforeImage));
        var after = Template.AfterImage(prompt);
        int[] afterIds = after.Length > 0 ? Tokenizer.Encode(after) : [];
        int[] answerIds = [];
        if (answer is not null)
        {
            // The end marker is the tokenizer's EOS id, not its spelling tokenised as text.
            string text = Template.AnswerPrefix + answer;
            var ids = Tokenizer.Encode(text).ToList();
            if (Template.AnswerSuffix == Tokenizer.EosText) ids.Add(Tokenizer.EosId);
            else { if (Template.AnswerSuffix.Length > 0) ids.AddRange(Tokenizer.Encode(Template.AnswerSuffix)); ids.Add(Tokenizer.EosId); }
            answerIds = ids.ToArray();
        }
        return new EncodedPrompt(before.ToArray(), afterIds, answerIds);
    }
}
