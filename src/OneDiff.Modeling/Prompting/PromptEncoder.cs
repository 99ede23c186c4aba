using OneDiff.Modeling.Tokenization;

namespace OneDiff.Modeling.Prompting;

/// <summary>A prompt as token ids around the place of the visual tokens, with its answer.</summary>
public sealed record EncodedPrompt(int[] BeforeImage, int[] AfterImage, int[] Answer)
{
    /// <summary>Which answer tokens are trained on (null: all); a conversation's later user turns are not.</summary>
    public bool[]? AnswerTargets { get; init; }
}

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

    /// <summary>
    /// A multi-turn conversation about the image, as LLaVA trains one: the first question goes
    /// where a task prompt goes; the answer stream holds every answer (trained on, each with its end
    /// marker) and, between them, the later questions in the template's turn format (read, not
    /// trained on).
    /// </summary>
    public EncodedPrompt EncodeConversation(IReadOnlyList<(string Question, string Answer)> turns)
    {
        if (turns.Count == 0) throw new ArgumentException("a conversation needs at least one turn", nameof(turns));
        if (turns.Count > 1 && Template.NextUserPrefix is null)
            throw new ArgumentException($"the '{Template.Name}' template has no format for a second turn", nameof(turns));
        var first = Encode(turns[0].Question, turns[0].Answer);
        var ids = new List<int>(first.Answer);
        var targets = Enumerable.Repeat(true, ids.Count).ToList();
        foreach (var (question, answer) in turns.Skip(1))
        {
            var asked = Tokenizer.Encode(Template.NextUserPrefix + question + Template.AssistantPrefix);
            ids.AddRange(asked);
            targets.AddRange(Enumerable.Repeat(false, asked.Length));
            var answered = Encode("", answer).Answer;
            ids.AddRange(answered);
            targets.AddRange(Enumerable.Repeat(true, answered.Length));
        }
        return first with { Answer = ids.ToArray(), AnswerTargets = targets.ToArray() };
    }
}
