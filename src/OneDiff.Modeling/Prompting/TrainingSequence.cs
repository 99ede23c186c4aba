namespace OneDiff.Modeling.Prompting;

/// <summary>
/// A prompt with one or more answers to train on. Several answers (the reference captions of one
/// pair) go into one sequence after a single copy of the prompt and visual tokens; each answer sees
/// that prefix and its own earlier tokens only, at the positions it would have alone, so the loss is
/// that of training the answers one by one while the prefix is computed once.
/// </summary>
public sealed record TrainingSequence(int[] BeforeImage, int[] AfterImage, IReadOnlyList<int[]> Answers)
{
    public TrainingSequence(EncodedPrompt prompt) : this(prompt.BeforeImage, prompt.AfterImage, [prompt.Answer])
    {
        if (prompt.AnswerTargets is { } targets) Targets = [targets];
    }

    /// <summary>Per answer, which of its tokens the loss covers; null: all of them. A conversation is
    /// one answer whose later user turns are read but not trained on.</summary>
    public IReadOnlyList<bool[]>? Targets
    {
        get;
        init
        {
            if (value is not null && (value.Count != Answers.Count || value.Where((t, i) => t.Length != Answers[i].Length).Any()))
                throw new ArgumentException("Targets needs one flag per answer token", nameof(Targets));
            field = value;
        }
    }

    /// <summary>Whether token <paramref name="k"/> of answer <paramref name="answer"/> is trained on.</summary>
    public bool IsTarget(int answer, int k) => Targets is null || Targets[answer][k];

    /// <summary>Tokens of the prompt around the image, without the visual tokens.</summary>
    public int TextPrefixLength => BeforeImage.Length + AfterImage.Length;

    public int AnswerTokens => Answers.Sum(a => a.Length);

    /// <summary>The tokens the loss covers: every answer token that is a target.</summary>
    public int TargetCount => Targets is null ? AnswerTokens : Targets.Sum(t => t.Count(x => x));

    /// <summary>One prompt with every answer of the given encodings, which must share their prompt.</summary>
    public static TrainingSequence Pack(IReadOnlyList<EncodedPrompt> prompts)
    {
        if (prompts.Count == 0) throw new ArgumentException("nothing to pack", nameof(prompts));
        var first = prompts[0];
        foreach (var p in prompts)
        {
            if (!p.BeforeImage.AsSpan().SequenceEqual(first.BeforeImage) || !p.AfterImage.AsSpan().SequenceEqual(first.AfterImage))
                throw new ArgumentException("packed answers must share one prompt", nameof(prompts));
            if (p.AnswerTargets is not null) throw new ArgumentException("conversations are not packed", nameof(prompts));
        }
        return new TrainingSequence(first.BeforeImage, first.AfterImage, prompts.Select(p => p.Answer).ToList());
    }
}
