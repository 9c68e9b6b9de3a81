from ._odqa import (
    Answer as Answer,
    DataError as DataError,
    IndexFormatError as IndexFormatError,
    ModelError as ModelError,
    OdqaError as OdqaError,
    Passage as Passage,
    Pipeline as Pipeline,
    QuestionError as QuestionError,
    SettingsError as SettingsError,
    __version__ as __version__,
    evaluate as evaluate,
    read_questions as read_questions,
)
